using System.Globalization;
using System.Text.RegularExpressions;
using DevicePlugin.Kubelet;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Kubelet;

/// <summary>Registration under faults: our own socket recreation, a hung kubelet, a missing directory, the umask.</summary>
public sealed partial class RegistrationFaultTests
{
    [Fact]
    public async Task A_preStart_change_gives_one_registration_however_often_the_directory_is_checked()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var first = await node.RegistrationAsync(Configs.Gpu);
        await first.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        var before = node.Kubelet.RegisterCalls;

        // Directory checks back to back while the change is applied: one that took our own socket recreation for a
        // kubelet restart would ask for another registration (and the kubelet would end the stream each time).
        using var stop = new CancellationTokenSource();
        var checks = Task.Run(async () =>
        {
            var count = 0;
            while (!stop.IsCancellationRequested)
            {
                node.Daemon.Resources.CheckKubelet(KubeletSocketIdentity.Read(node.Kubelet.SocketPath));
                if (++count % 16 == 0)
                {
                    await Task.Yield();
                }
            }

            return count;
        });

        await node.WriteConfigAsync(Configs.Simulated(preStart: true));
        var second = await node.RegistrationAsync(Configs.Gpu, minGeneration: 2);
        Assert.True(second.RegisteredOptions.PreStartRequired);

        // A later change reaches the new stream: the registration settled on it.
        await node.WriteConfigAsync(Configs.Simulated(preStart: true, sim1Health: "Unhealthy"));
        await second.WaitForListAsync(l => l.Devices.Count == 5 && !l.IsHealthy("sim-1"), PluginNode.Wait);
        await stop.CancelAsync();
        Assert.True(await checks > 0);

        Assert.Equal(before + 1, node.Kubelet.RegisterCalls);
        Assert.Same(second, node.Kubelet.Plugins[Configs.Gpu]);
        Assert.False(second.StreamEnded, $"the stream ended: {second.StreamEndStatus}");
        Assert.Equal(RegistrationState.Registered, Assert.Single(node.Daemon.Resources.Servers).State);
    }

    [Fact]
    public async Task A_kubelet_that_hangs_in_Register_is_abandoned_as_soon_as_a_new_kubelet_sock_appears()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false,
            options: o => { Directory.CreateDirectory(o.KubeletDirectory); return o; });
        using (node.Kubelet.HoldRegistrations())
        {
            await node.Kubelet.StartAsync();
            await Eventually.TrueAsync(() => node.Kubelet.RegisterCalls > 0, "the plugin called Register on the hung kubelet");

            // A new kubelet takes over the directory (wipes the sockets, listens on a new kubelet.sock) while the old
            // one still holds the call. Without abandoning it, the plugin would wait out the 30 s Register timeout.
            await using var replacement = new EmulatedKubelet(node.KubeletDirectory);
            await replacement.StartAsync();
            var plugin = await replacement.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(8));
            await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
            Assert.True(node.Logs.Contains("a new kubelet.sock appeared while Register was pending"), "the abandoned call is logged");
        }
    }

    [Fact]
    public async Task A_missing_kubelet_directory_is_named_once_without_stack_traces_and_registration_follows_when_it_appears()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false);
        Assert.False(Directory.Exists(node.KubeletDirectory));

        // Several retries go by.
        await Eventually.TrueAsync(() => FailedRegistrations(node) >= 4, "four registration attempts failed");
        var lines = node.Logs.Lines;
        var missing = $"the kubelet directory {node.KubeletDirectory} does not exist";
        Assert.Contains(lines, l => l.Contains(missing, StringComparison.Ordinal));
        Assert.Contains(missing, Assert.Single(node.Daemon.Resources.Servers).LastError, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("   at ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("Microsoft.AspNetCore", StringComparison.Ordinal));
        var warnings = lines.Count(l => !l.StartsWith("Debug", StringComparison.Ordinal) && l.Contains("does not exist", StringComparison.Ordinal));
        Assert.True(warnings <= 2, $"{warnings} lines for one cause:\n{string.Join('\n', lines)}");
        Assert.Contains(missing, await GetReadyzAsync(node), StringComparison.Ordinal);

        await node.Kubelet.StartAsync();
        var plugin = await node.Kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(5));
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
    }

    [Fact]
    public async Task A_failing_registration_is_one_line_of_the_resource_server_loop_shown_on_readyz_and_in_the_loop_metrics_until_it_registers()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false,
            options: o => { Directory.CreateDirectory(o.KubeletDirectory); return o; });
        var loop = "resource-server " + Configs.Gpu;
        var failure = $"background loop {loop}: a pass failed (IOException: the kubelet socket {node.Kubelet.SocketPath} does not exist";

        // Retried with backoff while the kubelet is away; the same failure is one line, named by the loop.
        await Eventually.TrueAsync(() => FailedRegistrations(node) >= 3, "three registration attempts failed");
        Assert.Single(node.Logs.Lines, l => l.Contains(failure, StringComparison.Ordinal));
        // A kubelet away (restarting, not up yet) is expected now and then: a warning, as before the loop, not an error.
        Assert.StartsWith("Warning ", node.Logs.Lines.Single(l => l.Contains(failure, StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains($"background loop {loop} failing: IOException: the kubelet socket", await GetReadyzAsync(node), StringComparison.Ordinal);
        var metrics = await node.ScrapeAsync();
        Assert.Equal(1, metrics.Value("device_plugin_background_loop_failing", ("loop", loop)));
        Assert.True(metrics.Value("device_plugin_background_loop_errors_total", ("loop", loop)) >= 3);

        // The kubelet comes: the loop serves, registers and is healthy again.
        await node.Kubelet.StartAsync();
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        await Eventually.TrueAsync(() => node.Logs.Contains($"background loop {loop}: a pass succeeded after"), "the recovery is logged");
        Assert.Equal(0, (await node.ScrapeAsync()).Value("device_plugin_background_loop_failing", ("loop", loop)));
        Assert.DoesNotContain(loop, await GetReadyzAsync(node), StringComparison.Ordinal);
        Assert.Single(node.Logs.Lines, l => l.Contains(failure, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_socket_appears_in_the_kubelet_directory_only_with_mode_0600_even_under_umask_000()
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);
        using var inotify = new Inotify(kubeletDir);

        using var daemon = new DaemonProcess(["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="], umask: "000");
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(30));
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        // Each kubelet restart makes the plugin create its socket again.
        for (var generation = 2; generation <= 3; generation++)
        {
            await kubelet.RestartAsync();
            var again = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait, minGeneration: generation);
            await again.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        }

        var ours = inotify.Events.Where(e => e.Name == plugin.Endpoint).ToArray();
        Assert.True(ours.Length >= 3, $"saw the socket appear {ours.Length} times");
        // Bound in place (IN_CREATE), the socket would exist with the umask's mode until a chmod: another user could
        // connect in between. Renamed in (IN_MOVED_TO), it was already 0600.
        Assert.All(ours, e => Assert.Equal(Inotify.InMovedTo, e.Mask & (Inotify.InCreate | Inotify.InMovedTo)));
        Assert.All(ours.Where(e => e.Mode is not null), e => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, e.Mode));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(kubeletDir), p => Path.GetFileName(p).StartsWith(".dp-staging", StringComparison.Ordinal));
        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    private static int FailedRegistrations(PluginNode node)
    {
        var text = node.GetAsync("/metrics").GetAwaiter().GetResult();
        var match = FailedRegex().Match(text);
        return match.Success ? (int)double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static async Task<string> GetReadyzAsync(PluginNode node)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(node.Daemon.MetricsAddress!, "/readyz"));
        return await response.Content.ReadAsStringAsync();
    }

    [GeneratedRegex("device_plugin_registrations_total\\{resource=\"example.com/gpu\",result=\"error\"\\} ([0-9.e+]+)")]
    private static partial Regex FailedRegex();
}
