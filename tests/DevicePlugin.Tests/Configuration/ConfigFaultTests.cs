using System.Diagnostics;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Configuration;

/// <summary>Hostile configuration files while running and at start: refused whole, the last good configuration keeps running.</summary>
public sealed class ConfigFaultTests
{
    private const string Refused = "configuration change refused";

    private static int RefusalCount(PluginNode node) => node.Logs.Lines.Count(l => l.Contains(Refused, StringComparison.Ordinal));

    [Fact]
    public async Task An_emptied_file_removes_nothing_and_is_refused()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        // An editor that truncates, then (much later) writes.
        await node.WriteConfigAsync("");
        await Eventually.TrueAsync(() => node.Logs.Contains("is empty or holds only comments"), "the empty file is refused");
        await node.WriteConfigAsync("# nothing but a comment\n");
        await Eventually.TrueAsync(() => RefusalCount(node) >= 2, "the comment-only file is refused");

        Assert.False(plugin.StreamEnded);
        Assert.True(File.Exists(plugin.SocketPath));
        Assert.All(plugin.Lists, l => Assert.Equal(5, l.Devices.Count));
        var response = await plugin.AllocateAsync("sim-0");
        Assert.Equal("sim-0", response.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.Contains("device_plugin_config_reloads_total{result=\"rejected\"} 2", await node.GetAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_cut_at_a_line_boundary_and_then_completed_is_never_applied_half_written()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        var full = Configs.Simulated().Replace("      - id: sim-x", "      - id: sim-4\n      - id: sim-x", StringComparison.Ordinal);
        var half = full[..(full.IndexOf("      - id: sim-2", StringComparison.Ordinal))];
        for (var round = 0; round < 3; round++)
        {
            // A copy that writes in two steps: the first half alone is a valid file with two devices.
            await File.WriteAllTextAsync(node.ConfigPath, half);
            await File.AppendAllTextAsync(node.ConfigPath, full[half.Length..]);
            await plugin.WaitForListAsync(l => l.Find("sim-4") is not null, PluginNode.Wait);
            await File.WriteAllTextAsync(node.ConfigPath, Configs.Simulated()[..(Configs.Simulated().IndexOf("      - id: sim-2", StringComparison.Ordinal))]);
            await File.AppendAllTextAsync(node.ConfigPath, Configs.Simulated()[Configs.Simulated().IndexOf("      - id: sim-2", StringComparison.Ordinal)..]);
            await plugin.WaitForListAsync(l => l.Find("sim-4") is null, PluginNode.Wait);
        }

        Assert.All(plugin.Lists, l => Assert.True(l.Devices.Count >= 5, $"a list with {l.Devices.Count} devices went out"));
        Assert.False(plugin.StreamEnded);
    }

    [Fact]
    public async Task A_huge_duration_is_refused_and_later_changes_still_apply()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        await node.WriteConfigAsync(Configs.Simulated(extra: "health:\n  recoverAfter: 99999999999h\n"));
        await Eventually.TrueAsync(() => node.Logs.Contains("health.recoverAfter"), "the duration is refused");
        await node.WriteConfigAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        await plugin.WaitForListAsync(l => !l.IsHealthy("sim-1"), PluginNode.Wait);
    }

    [Fact]
    public async Task A_FIFO_or_dev_zero_in_place_of_the_file_is_refused_and_a_good_file_afterwards_applies()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        File.Delete(node.ConfigPath);
        using (var mkfifo = Process.Start("mkfifo", [node.ConfigPath]))
        {
            await mkfifo.WaitForExitAsync();
        }

        await Eventually.TrueAsync(() => node.Logs.Contains("is a FIFO (named pipe), not a regular file"), "the FIFO is refused");
        File.Delete(node.ConfigPath);
        File.CreateSymbolicLink(node.ConfigPath, "/dev/zero");
        await Eventually.TrueAsync(() => node.Logs.Contains("is a character device, not a regular file"), "/dev/zero is refused");

        File.Delete(node.ConfigPath);
        await node.WriteConfigAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        await plugin.WaitForListAsync(l => !l.IsHealthy("sim-1"), PluginNode.Wait);
        Assert.False(plugin.StreamEnded);
    }

    [Fact]
    public async Task Deep_yaml_while_running_is_refused_and_the_daemon_keeps_serving()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        await node.WriteConfigAsync("resources: " + new string('[', 100_000) + new string(']', 100_000) + "\n");
        await Eventually.TrueAsync(() => node.Logs.Contains("deeper than the limit of 64 levels"), "the deep file is refused");
        var response = await plugin.AllocateAsync("sim-2");
        Assert.Single(response.ContainerResponses);
    }

    [Theory]
    [InlineData("deep")]
    [InlineData("duration")]
    [InlineData("empty")]
    [InlineData("fifo")]
    [InlineData("huge")]
    public async Task A_bad_file_at_start_exits_two_with_one_line(string kind)
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        string expected;
        switch (kind)
        {
            case "deep":
                await File.WriteAllTextAsync(config, "resources: " + new string('[', 100_000) + new string(']', 100_000) + "\n");
                expected = $"device-plugin: config error: {config}:1: (structure): mappings and lists nest deeper than the limit of 64 levels";
                break;
            case "duration":
                await File.WriteAllTextAsync(config, "resources: []\nhealth:\n  recoverAfter: 99999999999h\n");
                expected = $"device-plugin: config error: {config}:3: health.recoverAfter: ";
                break;
            case "empty":
                await File.WriteAllTextAsync(config, "# nothing\n");
                expected = $"device-plugin: config error: {config}: (file): is empty or holds only comments";
                break;
            case "fifo":
                using (var mkfifo = Process.Start("mkfifo", [config]))
                {
                    await mkfifo.WaitForExitAsync();
                }

                expected = $"device-plugin: config error: {config}: (file): cannot be read: is a FIFO (named pipe), not a regular file";
                break;
            default:
                File.CreateSymbolicLink(config, "/dev/zero");
                expected = $"device-plugin: config error: {config}: (file): cannot be read: is a character device, not a regular file";
                break;
        }

        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Combine("k"), "--metrics-address="]);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(expected, line, StringComparison.Ordinal);
    }
}
