using System.Xml.Linq;
using DevicePlugin.Conformance;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Conformance;

/// <summary>
/// <c>device-plugin conformance</c> against our daemon (every check passes, disruptive ones too) and against test
/// plugins that each break one rule (exactly the check for that rule fails; the others keep their result).
/// </summary>
public sealed class ConformanceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>The daemon with features that give every check something to look at: device nodes, CDI names, PreStart.</summary>
    private static string DaemonConfig(string cdiDir) => $"""
        resources:
          - name: {Configs.Gpu}
            source: simulated
            preStart: true
            naming: both
            extraDeviceNodes: [/dev/null]
            devices:
              - {"{"} id: sim-0, numa: 0 {"}"}
              - {"{"} id: sim-1, numa: 0 {"}"}
              - {"{"} id: sim-2, numa: 1 {"}"}
              - {"{"} id: sim-3, numa: 1, health: Unhealthy {"}"}
        cdi:
          specDir: {cdiDir}
        """;

    private static async Task<ConformanceReport> CheckAsync(PluginFault fault, bool disruptive)
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("device-plugins");
        var runner = new ConformanceRunner(new ConformanceOptions
        {
            KubeletDirectory = kubeletDir,
            Resources = [TestPlugin.Resource],
            Disruptive = disruptive,
            RegistrationTimeout = Wait,
        });
        var run = runner.RunAsync();
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(kubeletDir, "kubelet.sock")) || run.IsCompleted, "the checker listens");
        await using var plugin = new TestPlugin(kubeletDir, fault);
        await plugin.StartAsync();
        return await run;
    }

    private static string[] Failed(ConformanceReport report) =>
        report.Results.Where(r => r.Status == CheckStatus.Failed).Select(r => r.Name).ToArray();

    [Fact]
    public async Task A_plugin_that_keeps_every_rule_passes_every_check_including_the_disruptive_ones()
    {
        var report = await CheckAsync(PluginFault.None, disruptive: true);

        Assert.True(report.Passed, report.ToText());
        Assert.Equal(Checks.All.Select(c => c.Name), report.Results.Select(r => r.Name));
        // No PreStart asked for: that one check is skipped, with the reason.
        var skipped = Assert.Single(report.Results, r => r.Status == CheckStatus.Skipped);
        Assert.Equal(Checks.PreStart, skipped.Name);
        Assert.Contains("does not ask for PreStartContainer", skipped.Reason);
    }

    [Theory]
    [InlineData(PluginFault.RegisterBeforeServing, Checks.ServingBeforeRegister, "nothing served the endpoint when Register arrived")]
    [InlineData(PluginFault.DuplicateIds, Checks.DeviceIds, "device ID \"dev-1\" appears twice")]
    [InlineData(PluginFault.WrongPreferredSize, Checks.PreferredSize, "IDs, not 1")]
    [InlineData(PluginFault.PreferredOutsideAvailable, Checks.PreferredSubset, "dev-not-offered is not among the available IDs")]
    [InlineData(PluginFault.StreamEnds, Checks.StreamOpen, "the ListAndWatch stream ended")]
    [InlineData(PluginFault.MissingDevicePath, Checks.DeviceSpecs, "/dev/conformance-missing-device does not exist")]
    public async Task A_plugin_that_breaks_one_rule_fails_exactly_the_check_for_that_rule(PluginFault fault, string check, string reason)
    {
        var report = await CheckAsync(fault, disruptive: false);

        Assert.Equal([check], Failed(report));
        Assert.Contains(reason, report.Results.Single(r => r.Name == check).Reason);
        Assert.False(report.Passed);
        // Every other check keeps the result a rule-keeping plugin gets: the restart checks skipped without --disruptive.
        Assert.All(report.Results.Where(r => r.Name != check), r =>
            Assert.Equal(r.Name.StartsWith("restart.", StringComparison.Ordinal) || r.Name == Checks.PreStart ? CheckStatus.Skipped : CheckStatus.Passed, r.Status));
    }

    [Fact]
    public async Task A_plugin_that_never_registers_again_after_a_kubelet_restart_fails_the_restart_checks()
    {
        var report = await CheckAsync(PluginFault.NoReregistration, disruptive: true);

        // It neither registers again nor stops serving its old stream; the new-stream check has nothing to look at.
        Assert.Equal([Checks.Reregistration, Checks.OldStreamEnded], Failed(report));
        Assert.Contains("no new registration within 5 s", report.Results.Single(r => r.Name == Checks.Reregistration).Reason);
        Assert.Equal(CheckStatus.Skipped, report.Results.Single(r => r.Name == Checks.ListAfterRestart).Status);
    }

    [Fact]
    public async Task Our_daemon_passes_every_check_with_disruptive_and_the_command_writes_junit()
    {
        using var cdi = new TempDirectory();
        await using var node = await PluginNode.StartAsync(DaemonConfig(cdi.Path), startKubelet: false);
        var junit = Path.Combine(node.Root, "conformance.xml");
        var output = new StringWriter();
        var error = new StringWriter();

        var status = await ConformanceCommand.RunAsync(
            ["--kubelet-dir", node.KubeletDirectory, "--resource", Configs.Gpu, "--disruptive", "--junit", junit, "--timeout", "20"], output, error);

        Assert.True(status == 0, output + "\n" + error);
        var text = output.ToString();
        Assert.Contains($"PASS  {Checks.Reregistration}", text);
        Assert.Contains($"PASS  {Checks.PreStart}", text);
        Assert.Contains($"{Checks.All.Count} checks: {Checks.All.Count} passed, 0 failed, 0 skipped", text);

        var xml = XDocument.Load(junit);
        var suites = xml.Root!;
        Assert.Equal("testsuites", suites.Name.LocalName);
        var suite = Assert.Single(suites.Elements("testsuite"));
        Assert.Equal(Configs.Gpu, (string?)suite.Attribute("name"));
        Assert.Equal(Checks.All.Count, (int)suite.Attribute("tests")!);
        Assert.Equal(0, (int)suite.Attribute("failures")!);
        Assert.Equal(Checks.All.Select(c => c.Name), suite.Elements("testcase").Select(t => (string?)t.Attribute("name")));
        Assert.All(suite.Elements("testcase"), t =>
        {
            Assert.Equal(Configs.Gpu, (string?)t.Attribute("classname"));
            Assert.True(double.TryParse((string?)t.Attribute("time"), System.Globalization.CultureInfo.InvariantCulture, out _));
            Assert.Empty(t.Elements());
        });
    }

    [Fact]
    public async Task A_failing_check_makes_the_command_exit_1_and_appears_as_a_junit_failure_with_its_reason()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("device-plugins");
        var junit = dir.Combine("out.xml");
        var output = new StringWriter();
        var run = ConformanceCommand.RunAsync(["--kubelet-dir", kubeletDir, "--junit", junit, "--timeout=20"], output, new StringWriter());
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(kubeletDir, "kubelet.sock")) || run.IsCompleted, "the checker listens");
        await using var plugin = new TestPlugin(kubeletDir, PluginFault.MissingDevicePath);
        await plugin.StartAsync();

        Assert.Equal(1, await run);
        Assert.Contains($"FAIL  {Checks.DeviceSpecs}: ", output.ToString());
        Assert.Contains("NOT CONFORMANT", output.ToString());
        var suite = Assert.Single(XDocument.Load(junit).Root!.Elements("testsuite"));
        Assert.Equal(TestPlugin.Resource, (string?)suite.Attribute("name"));
        Assert.Equal(1, (int)suite.Attribute("failures")!);
        var failure = Assert.Single(suite.Descendants("failure"));
        Assert.Equal(Checks.DeviceSpecs, (string?)failure.Parent!.Attribute("name"));
        Assert.Contains("/dev/conformance-missing-device does not exist", (string?)failure.Attribute("message"));
        Assert.NotEmpty(suite.Descendants("skipped"));
    }

    [Theory]
    [InlineData(new string[0], "--kubelet-dir DIR is required")]
    [InlineData(new[] { "--kubelet-dir", "/tmp/x", "--bogus" }, "unknown argument \"--bogus\"")]
    [InlineData(new[] { "--kubelet-dir", "/tmp/x", "--timeout", "soon" }, "--timeout \"soon\"")]
    [InlineData(new[] { "--kubelet-dir", "/tmp/x", "--junit", "/nonexistent-dir/out.xml" }, "the directory /nonexistent-dir does not exist")]
    public async Task Bad_arguments_exit_2_naming_the_problem(string[] args, string message)
    {
        var error = new StringWriter();
        Assert.Equal(2, await ConformanceCommand.RunAsync(args, new StringWriter(), error));
        Assert.Contains(message, error.ToString());
    }

    [Fact]
    public async Task Help_lists_every_check_and_exits_0()
    {
        var output = new StringWriter();
        Assert.Equal(0, await ConformanceCommand.RunAsync(["--help"], output, new StringWriter()));
        Assert.All(Checks.All, c => Assert.Contains(c.Name, output.ToString()));
    }
}
