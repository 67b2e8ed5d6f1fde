using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cli;

/// <summary>One daemon per kubelet directory: the real executable, twice on one directory.</summary>
public sealed class InstanceLockTests
{
    [Fact]
    public async Task A_second_daemon_on_the_same_kubelet_directory_exits_one_naming_the_running_one_and_leaves_it_serving()
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);
        string[] args = ["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="];

        using var first = new DaemonProcess(args);
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        var registrations = kubelet.RegisterCalls;

        using var second = new DaemonProcess(args);
        var code = await second.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, code);
        var line = Assert.Single(second.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(
            $"device-plugin: another device-plugin (PID {first.Id}) is already running on --kubelet-dir {kubeletDir} (it holds {kubeletDir}/.device-plugin.lock); only one may serve a kubelet directory",
            line);

        // With JSON logs the same refusal is one JSON object.
        using var third = new DaemonProcess([.. args, "--log-format", "json"]);
        Assert.Equal(1, await third.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var json = Assert.Single(third.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using (var doc = System.Text.Json.JsonDocument.Parse(json))
        {
            Assert.Contains($"PID {first.Id}", doc.RootElement.GetRawText(), StringComparison.Ordinal);
        }

        // The first one kept its socket, its stream and its registration, and still answers.
        Assert.True(File.Exists(plugin.SocketPath));
        Assert.False(plugin.StreamEnded);
        Assert.Equal(registrations, kubelet.RegisterCalls);
        var response = await plugin.AllocateAsync("sim-0");
        Assert.Equal("sim-0", response.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
    }

    [Fact]
    public async Task The_lock_is_released_when_the_daemon_dies_so_a_new_one_starts()
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);
        string[] args = ["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="];

        using (var first = new DaemonProcess(args))
        {
            await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
            first.Signal(9);
            await first.WaitForExitAsync(PluginNode.Wait);
        }

        // The lock file stays behind, naming a dead process; the kernel released the lock with the process.
        Assert.True(File.Exists(Path.Combine(kubeletDir, ".device-plugin.lock")));
        using var second = new DaemonProcess(args);
        await kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(30), minGeneration: 2);
        // (Read with cat: .NET's own file open takes a shared flock, which the daemon's exclusive lock refuses.)
        using var cat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("cat", Path.Combine(kubeletDir, ".device-plugin.lock"))
        {
            RedirectStandardOutput = true,
        })!;
        Assert.Equal($"{second.Id}\n", await cat.StandardOutput.ReadToEndAsync());
    }
}
