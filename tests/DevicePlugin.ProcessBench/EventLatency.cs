using System.Diagnostics;
using System.Globalization;
using System.Text;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.Sources.Pci;

namespace DevicePlugin.ProcessBench;

/// <summary>
/// Health changes made outside the daemon, timed to the list that shows them at the kubelet emulator (the time the
/// emulator's stream reader received it), and kubelet restarts timed to the new registration.
/// </summary>
public static class EventLatency
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>Each sample marks one more simulated device Unhealthy in the config file (written and renamed into place).</summary>
    public static async Task<Series> ConfigEditAsync(DaemonSubject daemon, int samples)
    {
        var devices = Math.Max(samples, 8);
        await using var node = await Node.StartAsync(daemon, 1, devices);
        var plugin = node.Plugin(Subject.ResourceName(0));
        await plugin.WaitForListAsync(l => l.HealthyCount == devices, Wait);
        var config = Path.Combine(node.Directory, "config.yaml");
        var series = new Series("ms");
        for (var k = 0; k < samples; k++)
        {
            var id = Subject.DeviceId(k);
            var partial = config + ".partial";
            await File.WriteAllTextAsync(partial, DaemonSubject.SimulatedConfig(1, devices, unhealthy: k + 1));
            var changed = DateTimeOffset.UtcNow;
            File.Move(partial, config, overwrite: true);
            var list = await plugin.WaitForListAsync(l => !l.IsHealthy(id), Wait);
            series.Add((list.ReceivedAt - changed).TotalMilliseconds);
        }

        return series;
    }

    /// <summary>Each sample injects a critical XID (79) for a GPU not hit before, through the stand-in libnvidia-ml.</summary>
    public static async Task<Series> InjectedXidAsync(DaemonSubject daemon, string repositoryRoot, int samples)
    {
        var gpus = Math.Max(samples, 2);
        var directory = Path.Combine(Path.GetTempPath(), $"process-bench-nvml-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            var library = await BuildStandInAsync(repositoryRoot, directory);
            var conf = new StringBuilder();
            for (var i = 0; i < gpus; i++)
            {
                conf.Append(CultureInfo.InvariantCulture,
                    $"gpu uuid=GPU-bench-{i} name=\"NVIDIA H100 80GB HBM3\" memory=85520809984 minor={i} pci=00000000:{0x18 + i:X2}:00.0 numa={i * 2 / gpus} cc=9.0\n");
            }

            await File.WriteAllTextAsync(Path.Combine(directory, "nvml.conf"), conf.ToString());
            var dev = Path.Combine(directory, "dev");
            var sys = Path.Combine(directory, "sys");
            Directory.CreateDirectory(dev);
            Directory.CreateDirectory(sys);
            await File.WriteAllBytesAsync(Path.Combine(dev, "nvidiactl"), []);
            await File.WriteAllBytesAsync(Path.Combine(dev, "nvidia-uvm"), []);

            await using var node = await Node.StartAsync(daemon, 1, gpus, (work, kubeletDir) =>
            {
                var config = Path.Combine(work, "config.yaml");
                File.WriteAllText(config, "resources:\n  - name: bench.example.com/r0\n    source: nvml\n");
                return daemon.Run([
                    "--kubelet-dir", kubeletDir, "--config", config, "--metrics-address", "127.0.0.1:0",
                    "--nvml-library", library, "--dev-root", dev, "--sysfs-root", sys]);
            });
            var plugin = node.Plugin(Subject.ResourceName(0));
            await plugin.WaitForListAsync(l => l.HealthyCount == gpus, Wait);
            var series = new Series("ms");
            for (var k = 0; k < samples; k++)
            {
                var id = $"GPU-bench-{k % gpus}";
                var injected = DateTimeOffset.UtcNow;
                await File.AppendAllTextAsync(Path.Combine(directory, "events"), $"xid {k % gpus} 79\n");
                var list = await plugin.WaitForListAsync(l => !l.IsHealthy(id), Wait);
                series.Add((list.ReceivedAt - injected).TotalMilliseconds);
            }

            return series;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Each sample unbinds the driver of one more PCI function on a fake sysfs tree.</summary>
    public static async Task<Series> SysfsChangeAsync(DaemonSubject daemon, int samples)
    {
        var functions = Math.Max(samples, 2);
        using var sysfs = new FakeSysfs();
        var root = sysfs.RootComplex("0000:00");
        var nodes = new List<FakePciNode>();
        for (var i = 0; i < functions; i++)
        {
            var bus = 0x10 + i;
            nodes.Add(root.Bridge($"0000:00:{i + 1:x2}.0", numa: i * 2 / functions)
                .Function($"0000:{bus:x2}:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: i * 2 / functions)
                .CharDevice($"drm/card{i}", $"dri/card{i}", minor: i));
        }

        await using var node = await Node.StartAsync(daemon, 1, functions, (work, kubeletDir) =>
        {
            var config = Path.Combine(work, "config.yaml");
            File.WriteAllText(config, """
                resources:
                  - name: bench.example.com/r0
                    source: pci
                    match:
                      - vendor: "0x1002"
                        driver: amdgpu
                health:
                  recoverAfter: 0
                """);
            return daemon.Run([
                "--kubelet-dir", kubeletDir, "--config", config, "--metrics-address", "127.0.0.1:0",
                "--sysfs-root", sysfs.SysRoot, "--dev-root", sysfs.DevRoot]);
        });
        var plugin = node.Plugin(Subject.ResourceName(0));
        await plugin.WaitForListAsync(l => l.HealthyCount == functions, Wait);
        var series = new Series("ms");
        for (var k = 0; k < samples; k++)
        {
            var id = nodes[k % functions].Name;
            var changed = DateTimeOffset.UtcNow;
            nodes[k % functions].BindDriver(null);
            var list = await plugin.WaitForListAsync(l => !l.IsHealthy(id), Wait);
            series.Add((list.ReceivedAt - changed).TotalMilliseconds);
        }

        return series;
    }

    /// <summary>
    /// Each sample restarts the emulated kubelet (stop, then start: every socket wiped, kubelet.sock created anew) and
    /// times from the restarted kubelet listening to the plugin's Register arriving (0 when it came in while the
    /// emulator's start was returning).
    /// </summary>
    public static async Task<Series> KubeletRestartAsync(DaemonSubject daemon, int samples, int devices)
    {
        await using var node = await Node.StartAsync(daemon, 1, devices);
        var resource = Subject.ResourceName(0);
        var series = new Series("ms");
        for (var k = 0; k < samples; k++)
        {
            await node.Kubelet.StopAsync();
            await node.Kubelet.StartAsync();
            var listening = DateTimeOffset.UtcNow;
            // Registration generations go on counting across the emulator's restarts: the first one was 1.
            var plugin = await node.Kubelet.WaitForRegistrationAsync(resource, Wait, minGeneration: k + 2);
            series.Add(Math.Max(0, (plugin.RegisteredAt - listening).TotalMilliseconds));
        }

        return series;
    }

    private static async Task<string> BuildStandInAsync(string repositoryRoot, string directory)
    {
        var output = Path.Combine(directory, "libnvidia-ml.so.1");
        var source = Path.Combine(repositoryRoot, "tests", "nvml-standin", "fake_nvml.c");
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O2", "-o", output, source, "-lpthread"])
        {
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("gcc could not be started");
        var errors = await gcc.StandardError.ReadToEndAsync();
        await gcc.WaitForExitAsync();
        return gcc.ExitCode == 0 ? output : throw new InvalidOperationException($"gcc failed to build the NVML stand-in: {errors}");
    }
}
