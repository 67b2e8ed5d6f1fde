using System.Globalization;
using System.Net.Sockets;
using DevicePlugin.Tests.TestSupport;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Hosting;

/// <summary>
/// At a low open-file limit (128) a flood of connections must not leave the daemon spinning in its accept loop or
/// without descriptors: connections past the limit are refused, the kubelet's calls are still answered, and the
/// process stays idle while the flood waits.
/// </summary>
public sealed class OpenFileLimitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_connection_flood_at_an_open_file_limit_of_128_neither_spins_nor_stops_the_daemon_serving()
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);

        // The published native executable, as deployed. The JIT-compiled build keeps about 180 descriptors open for
        // its assemblies and loads more as it goes, so at a low limit it fails for reasons of its own.
        var native = Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE");
        if (string.IsNullOrEmpty(native) || !File.Exists(native))
        {
            output.WriteLine("COULD NOT RUN: set DEVICE_PLUGIN_NATIVE to the published device-plugin "
                + "(dotnet publish src/DevicePlugin -c Release -o out; DEVICE_PLUGIN_NATIVE=$PWD/out/device-plugin); CI does.");
            return;
        }

        using var daemon = new DaemonProcess(["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="],
            executable: native, openFileLimit: 128);
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(60));
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        var socketPath = Path.Combine(kubeletDir, plugin.Endpoint);

        // One call before the flood.
        Assert.Single((await plugin.AllocateAsync("sim-2").WaitAsync(TimeSpan.FromSeconds(30))).ContainerResponses);

        // More connections than the process has descriptors; each stays open and sends nothing.
        var flood = new List<Socket>();
        try
        {
            for (var i = 0; i < 400; i++)
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                flood.Add(s);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).WaitAsync(TimeSpan.FromSeconds(5));
                }
                catch (Exception e) when (e is SocketException or TimeoutException)
                {
                    // The backlog is full: the flood has done what it can.
                    break;
                }
            }

            // While the flood is held open: the process is not busy (an accept loop spinning on EMFILE used 100 %
            // of a core) and the kubelet's calls are answered.
            var before = CpuSeconds(daemon.Id);
            var started = DateTime.UtcNow;
            await Task.Delay(TimeSpan.FromSeconds(3));
            var busy = (CpuSeconds(daemon.Id) - before) / (DateTime.UtcNow - started).TotalSeconds;
            Assert.True(busy < 0.5, $"the daemon used {busy:P0} of a core while the flood waited");

            var response = await plugin.AllocateAsync("sim-0").WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Single(response.ContainerResponses);
            Assert.False(plugin.StreamEnded);
        }
        finally
        {
            foreach (var s in flood)
            {
                s.Dispose();
            }
        }

        Assert.False(daemon.HasExited, daemon.Stderr);
        var again = await plugin.AllocateAsync("sim-1").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(again.ContainerResponses);
        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>User and system CPU time of a process, from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}
