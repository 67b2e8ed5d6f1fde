using System.Text.Json;
using DevicePlugin.Demo;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.KubeletEmulator;

/// <summary><c>device-plugin kubelet-emulator</c> driven by a script against the real daemon, read as JSON lines.</summary>
public sealed class EmulatorCommandTests
{
    private static string Config(string sim2Health) => $"""
        resources:
          - name: {Configs.Gpu}
            source: simulated
            devices:
              - {"{"} id: sim-0, numa: 0 {"}"}
              - {"{"} id: sim-1, numa: 0 {"}"}
              - {"{"} id: sim-2, numa: 1, health: {sim2Health} {"}"}
              - {"{"} id: sim-3, numa: 1 {"}"}
        """;

    private static string Indent(string text) => string.Join("\n", text.Split('\n').Select(l => "          " + l));

    [Fact]
    public async Task A_script_drives_the_daemon_and_every_event_comes_out_as_a_json_line()
    {
        await using var node = await PluginNode.StartAsync(Config("Healthy"), startKubelet: false);
        var script = Path.Combine(node.Root, "script.yaml");
        await File.WriteAllTextAsync(script, $"""
            steps:
              - wait-for-registration: {Configs.Gpu}
              - expect-devices: {"{"}resource: {Configs.Gpu}, count: 4, healthy: 4{"}"}
              - admit-pod:
                  name: trainer
                  initContainers: [{"{"}name: setup, limits: {"{"}{Configs.Gpu}: 1{"}"}{"}"}]
                  containers: [{"{"}name: main, limits: {"{"}{Configs.Gpu}: 2{"}"}{"}"}]
              - write-file:
                  path: config.yaml
                  content: |
            {Indent(Config("Unhealthy"))}
              - expect-health: {"{"}resource: {Configs.Gpu}, device: sim-2, health: Unhealthy{"}"}
              - admit-pod: {"{"}name: too-big, containers: [{"{"}name: main, limits: {"{"}{Configs.Gpu}: 4{"}"}{"}"}], expectRefused: true{"}"}
              - restart-kubelet: {"{"}{"}"}
              - wait-for-registration: {Configs.Gpu}
              - expect-devices: {"{"}resource: {Configs.Gpu}, healthy: 3{"}"}
              - remove-pod: trainer
              - write-file: {"{"}path: config.yaml, content: "resources: []"{"}"}
              - expect-gone: {"{"}resource: {Configs.Gpu}{"}"}
            """);
        var output = new StringWriter();
        var error = new StringWriter();

        var status = await KubeletEmulatorCommand.RunAsync(
            ["--kubelet-dir", node.KubeletDirectory, "--create-dir", "--script", script, "--output", "json"], output, error, CancellationToken.None);

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(status == 0, output + "\n" + error);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.All(events, e =>
        {
            Assert.True(DateTimeOffset.TryParse(e.GetProperty("time").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _));
            // No empty fields: every string has text, every list and map has entries.
            foreach (var p in e.EnumerateObject())
            {
                Assert.False(p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == "", $"{p.Name} is empty in {e}");
                Assert.False(p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() == 0, $"{p.Name} is empty in {e}");
                Assert.False(p.Value.ValueKind == JsonValueKind.Object && !p.Value.EnumerateObject().Any(), $"{p.Name} is empty in {e}");
            }
        });
        string Name(JsonElement e) => e.GetProperty("event").GetString()!;
        string? Field(JsonElement e, string key) =>
            !e.TryGetProperty(key, out var v) ? null : v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText();

        // What the script made happen, in order (lists and steps interleave with them and are checked below).
        string[] driven = ["allocation", "pod-refused", "file-written", "kubelet-restarted", "pod-removed", "resource-gone", "script-passed"];
        Assert.Equal(
            ["allocation setup", "allocation main", "file-written", "pod-refused", "kubelet-restarted", "pod-removed", "file-written", "resource-gone", "script-passed"],
            events.Where(e => driven.Contains(Name(e))).Select(e => Name(e) + (Name(e) == "allocation" ? " " + Field(e, "container") : "")));

        var setup = events.Single(e => Name(e) == "allocation" && Field(e, "container") == "setup");
        var main = events.Single(e => Name(e) == "allocation" && Field(e, "container") == "main");
        var reused = Assert.Single(setup.GetProperty("devices").EnumerateArray()).GetString();
        Assert.Equal("default/trainer", Field(main, "pod"));
        Assert.Equal(reused, Assert.Single(main.GetProperty("reused").EnumerateArray()).GetString());
        Assert.Equal(2, main.GetProperty("devices").GetArrayLength());
        Assert.Equal(string.Join(",", main.GetProperty("devices").EnumerateArray().Select(d => d.GetString())),
            main.GetProperty("envs").GetProperty("SIMULATED_DEVICES").GetString());
        Assert.False(main.TryGetProperty("deviceSpecs", out _), "a simulated device has no device specs, and an empty field is left out");
        Assert.Contains("Requested: 4", Field(events.Single(e => Name(e) == "pod-refused"), "reason"));

        var registered = events.Where(e => Name(e) == "registered").ToArray();
        Assert.Equal(["1", "2"], registered.Select(e => Field(e, "generation")));
        Assert.All(registered, r => Assert.Equal("true", Field(r, "preferredAllocation")));
        var ended = events.Where(e => Name(e) == "stream-ended").ToArray();
        Assert.Equal(["1 kubelet", "2 plugin"], ended.Select(e => $"{Field(e, "generation")} {Field(e, "by")}"));
        Assert.Contains(events, e => Name(e) == "list" && e.GetProperty("devices").EnumerateArray()
            .Any(d => d.GetProperty("id").GetString() == "sim-2" && d.GetProperty("health").GetString() == "Unhealthy" && d.GetProperty("numa").GetString() == "1"));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            events.Where(e => Name(e) == "step").Select(e => Field(e, "index")));
    }

    [Fact]
    public async Task A_failing_step_exits_1_naming_the_step_and_its_line()
    {
        await using var node = await PluginNode.StartAsync(Config("Healthy"), startKubelet: false);
        var script = Path.Combine(node.Root, "script.yaml");
        await File.WriteAllTextAsync(script, $"""
            steps:
              - wait-for-registration: {Configs.Gpu}
              - expect-devices: {"{"}resource: {Configs.Gpu}, count: 4{"}"}
              - expect-health: {"{"}resource: {Configs.Gpu}, device: sim-0, health: Unhealthy, timeout: 300ms{"}"}
            """);
        var output = new StringWriter();

        var status = await KubeletEmulatorCommand.RunAsync(["--kubelet-dir", node.KubeletDirectory, "--create-dir", "--script", script], output, new StringWriter(), CancellationToken.None);

        Assert.Equal(1, status);
        var failed = Assert.Single(output.ToString().Split('\n'), l => l.StartsWith("step-failed ", StringComparison.Ordinal));
        Assert.Contains("index=3 line=4", failed);
        Assert.True(failed.Contains("the last was: sim-0=Healthy", StringComparison.Ordinal), failed);
        Assert.Contains($"\nregistered resource={Configs.Gpu} endpoint=", output.ToString());
    }

    [Fact]
    public async Task A_directory_that_does_not_exist_is_refused_unless_create_dir_is_given()
    {
        using var dir = new TempDirectory();
        var missing = dir.Combine("not-there");
        var error = new StringWriter();

        Assert.Equal(2, await KubeletEmulatorCommand.RunAsync(["--kubelet-dir", missing], new StringWriter(), error, CancellationToken.None));
        Assert.Contains($"--kubelet-dir {missing} does not exist (give --create-dir to create it)", error.ToString());
        Assert.False(Directory.Exists(missing));

        var script = dir.Combine("empty.yaml");
        await File.WriteAllTextAsync(script, "steps: []");
        Assert.Equal(0, await KubeletEmulatorCommand.RunAsync(["--kubelet-dir", missing, "--create-dir", "--script", script], new StringWriter(), error, CancellationToken.None));
        Assert.True(Directory.Exists(missing));
    }

    [Theory]
    [InlineData("steps:\n  - bogus-step: {}\n", "line 2: unknown step \"bogus-step\"")]
    [InlineData("steps:\n  - expect-devices: {resource: a.com/b}\n", "expect-devices needs \"count\" or \"healthy\"")]
    [InlineData("steps:\n  - wait: soon\n", "\"duration\" must be a duration")]
    [InlineData("steps:\n  - admit-pod: {name: p, containers: [{name: c, limits: {a.com/b: x}}]}\n", "limits is a mapping of resource name to a count")]
    [InlineData("steps: [\n", "line")]
    public async Task A_bad_script_exits_2_naming_the_line_and_problem(string yaml, string message)
    {
        using var dir = new TempDirectory();
        var script = dir.Combine("bad.yaml");
        await File.WriteAllTextAsync(script, yaml);
        var error = new StringWriter();

        Assert.Equal(2, await KubeletEmulatorCommand.RunAsync(["--kubelet-dir", dir.Path, "--script", script], new StringWriter(), error, CancellationToken.None));
        Assert.Contains(message, error.ToString());
        Assert.Contains(script, error.ToString());
    }

    [Fact]
    public async Task Help_exits_0_and_names_every_step_and_flag()
    {
        var output = new StringWriter();
        Assert.Equal(0, await KubeletEmulatorCommand.RunAsync(["--help"], output, new StringWriter(), CancellationToken.None));
        Assert.All(EmulatorScript.Kinds, k => Assert.Contains(k, output.ToString()));
        Assert.All(new[] { "--kubelet-dir", "--create-dir", "--script", "--output", "--allocate", "--pod-resources-socket" }, f => Assert.Contains(f, output.ToString()));
    }
}
