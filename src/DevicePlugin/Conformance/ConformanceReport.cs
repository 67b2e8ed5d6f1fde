using System.Globalization;
using System.Xml.Linq;

namespace DevicePlugin.Conformance;

/// <summary>Every check's result, as a human report or as JUnit XML (one testsuite per resource).</summary>
public sealed record ConformanceReport(string KubeletDirectory, IReadOnlyList<CheckResult> Results, TimeSpan Duration)
{
    public bool Passed => Results.Count > 0 && Results.All(r => r.Status != CheckStatus.Failed);

    public int Count(CheckStatus status) => Results.Count(r => r.Status == status);

    /// <summary>One line per check, grouped by resource, then the totals.</summary>
    public string ToText()
    {
        var text = new System.Text.StringBuilder();
        foreach (var group in Results.GroupBy(r => r.Resource))
        {
            text.Append(group.Key).Append('\n');
            foreach (var r in group)
            {
                var mark = r.Status switch
                {
                    CheckStatus.Passed => "PASS",
                    CheckStatus.Failed => "FAIL",
                    _ => "SKIP",
                };
                text.Append("  ").Append(mark).Append("  ").Append(r.Name);
                if (r.Reason is not null)
                {
                    text.Append(": ").Append(r.Reason);
                }

                text.Append('\n');
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"{Results.Count} checks: {Count(CheckStatus.Passed)} passed, {Count(CheckStatus.Failed)} failed, "
            + $"{Count(CheckStatus.Skipped)} skipped in {Duration.TotalSeconds:0.0} s: {(Passed ? "CONFORMANT" : "NOT CONFORMANT")}\n");
        return text.ToString();
    }

    /// <summary>JUnit XML: testsuites / testsuite per resource / testcase per check, with failure or skipped.</summary>
    public XDocument ToJUnit()
    {
        static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
        var suites = new XElement("testsuites",
            new XAttribute("name", "device-plugin conformance"),
            new XAttribute("tests", Results.Count),
            new XAttribute("failures", Count(CheckStatus.Failed)),
            new XAttribute("errors", 0),
            new XAttribute("skipped", Count(CheckStatus.Skipped)),
            new XAttribute("time", Seconds(Duration)));
        foreach (var group in Results.GroupBy(r => r.Resource))
        {
            var suite = new XElement("testsuite",
                new XAttribute("name", group.Key),
                new XAttribute("tests", group.Count()),
                new XAttribute("failures", group.Count(r => r.Status == CheckStatus.Failed)),
                new XAttribute("errors", 0),
                new XAttribute("skipped", group.Count(r => r.Status == CheckStatus.Skipped)),
                new XAttribute("time", Seconds(TimeSpan.FromTicks(group.Sum(r => r.Duration.Ticks)))));
            foreach (var r in group)
            {
                var testcase = new XElement("testcase",
                    new XAttribute("classname", group.Key),
                    new XAttribute("name", r.Name),
                    new XAttribute("time", Seconds(r.Duration)));
                if (r.Status == CheckStatus.Failed)
                {
                    testcase.Add(new XElement("failure", new XAttribute("message", r.Reason ?? "failed"), new XAttribute("type", r.Name), r.Reason));
                }
                else if (r.Status == CheckStatus.Skipped)
                {
                    testcase.Add(new XElement("skipped", new XAttribute("message", r.Reason ?? "skipped")));
                }

                suite.Add(testcase);
            }

            suites.Add(suite);
        }

        return new XDocument(new XDeclaration("1.0", "utf-8", null), suites);
    }
}
