using System.Globalization;
using System.Text;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>One sample of a scrape: metric name, labels, value.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string this[string label] => Labels.TryGetValue(label, out var v) ? v : throw new KeyNotFoundException($"{Name} has no label {label}");
}

/// <summary>
/// A strict reader of the Prometheus text exposition format (0.0.4) as /metrics serves it: <c># HELP</c> and
/// <c># TYPE</c> lines per family and one sample per line, label values unescaped. A malformed line fails the test.
/// </summary>
public sealed class PrometheusText
{
    private PrometheusText(Dictionary<string, string> types, Dictionary<string, string> help, List<Sample> samples, string text)
    {
        Types = types;
        Help = help;
        Samples = samples;
        Text = text;
    }

    /// <summary>Family name to type (counter, gauge, histogram, ...).</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    public IReadOnlyDictionary<string, string> Help { get; }

    public IReadOnlyList<Sample> Samples { get; }

    public string Text { get; }

    public override string ToString() => Text;

    public IEnumerable<Sample> Of(string name) => Samples.Where(s => s.Name == name);

    /// <summary>The samples of <paramref name="name"/> whose labels include every given pair.</summary>
    public IEnumerable<Sample> Of(string name, params (string Label, string Value)[] labels) =>
        Of(name).Where(s => labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value));

    /// <summary>The single sample matching, or a failure that shows the family.</summary>
    public double Value(string name, params (string Label, string Value)[] labels)
    {
        var found = Of(name, labels).ToArray();
        Assert.True(found.Length == 1, $"{found.Length} samples of {name} with {string.Join(",", labels)}:\n{string.Join("\n", Of(name).Select(Format))}");
        return found[0].Value;
    }

    /// <summary>Every family name a sample can belong to: histogram samples end in _bucket, _sum, _count.</summary>
    public bool HasFamily(string name) => Types.ContainsKey(name) && Help.ContainsKey(name);

    public static string Format(Sample s) => $"{s.Name}{{{string.Join(",", s.Labels.Select(kv => $"{kv.Key}=\"{kv.Value}\""))}}} {s.Value}";

    public static PrometheusText Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ');
                Assert.Equal(2, parts.Length);
                types[parts[0]] = parts[1];
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var rest = line[7..];
                var space = rest.IndexOf(' ', StringComparison.Ordinal);
                help[space < 0 ? rest : rest[..space]] = space < 0 ? "" : rest[(space + 1)..];
                continue;
            }

            Assert.False(line.StartsWith('#'), $"unexpected comment: {line}");
            samples.Add(ParseSample(line));
        }

        return new PrometheusText(types, help, samples, text);
    }

    private static Sample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var label = line[i..eq];
                Assert.Equal('"', line[eq + 1]);
                var value = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] == 'n' ? '\n' : line[j]);
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }

                labels[label] = value.ToString();
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
            }

            i++;
        }

        var fields = line[i..].Trim().Split(' ');
        var number = fields[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, number);
    }
}
