using System.Diagnostics;
using System.Globalization;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// The published Native AOT daemon inside a memory cgroup limited to 64 MiB (the DaemonSet's limit is above that),
/// under a bounded Allocate burst: it must not be OOM-killed and must answer every call. Needs root and a writable
/// cgroup memory controller (v2, or v1 where that is what the machine has) and the native executable, named by
/// <c>DEVICE_PLUGIN_NATIVE</c> (CI publishes first and sets it). Where any of that is missing the test says so in
/// its output and ends there, without a verdict on the daemon.
/// </summary>
public sealed class MemoryCgroupTests(ITestOutputHelper output)
{
    private const long Limit = 64L * 1024 * 1024;
    private const int Clients = 16;
    private const int CallsPerClient = 1_000;

    [Fact]
    public async Task The_native_daemon_serves_a_burst_inside_64_MiB_without_an_oom_kill_or_an_error()
    {
        var executable = Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE");
        if (string.IsNullOrEmpty(executable) || !File.Exists(executable))
        {
            output.WriteLine("COULD NOT RUN: set DEVICE_PLUGIN_NATIVE to the published device-plugin "
                + "(dotnet publish src/DevicePlugin -c Release -o out; DEVICE_PLUGIN_NATIVE=$PWD/out/device-plugin); CI does.");
            return;
        }

        using var cgroup = MemoryCgroup.TryCreate(Limit, out var why);
        if (cgroup is null)
        {
            output.WriteLine($"COULD NOT RUN: no memory cgroup could be made here: {why}");
            return;
        }

        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("k");
        await using var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, """
            resources:
              - name: example.com/gpu
                source: simulated
                devices: [{id: d0, numa: 0}, {id: d1, numa: 0}, {id: d2, numa: 0}, {id: d3, numa: 0},
                          {id: d4, numa: 1}, {id: d5, numa: 1}, {id: d6, numa: 1}, {id: d7, numa: 1}]
            """);

        // The shell joins the cgroup and then becomes the daemon, so the daemon runs inside it from its first page.
        using var daemon = new DaemonProcess(
            ["-c", $"echo $$ > '{cgroup.ProcsFile}' && exec \"$0\" \"$@\"", executable,
             "--kubelet-dir", kubeletDir, "--config", config, "--metrics-address", "127.0.0.1:0"],
            executable: "/bin/sh");
        var plugin = await kubelet.WaitForRegistrationAsync("example.com/gpu", TimeSpan.FromSeconds(60));
        await plugin.WaitForListAsync(l => l.HealthyCount == 8, PluginNode.Wait);
        Assert.True(cgroup.Contains(daemon.Id), $"the daemon (pid {daemon.Id}) is not in {cgroup.Path}");

        long errors = 0;
        string? firstError = null;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            using var channel = UnixSocketChannel.Create(plugin.SocketPath);
            var client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(channel);
            var request = new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { $"d{c % 8}", $"d{(c + 3) % 8}" } } } };
            for (var i = 0; i < CallsPerClient; i++)
            {
                try
                {
                    var response = await client.AllocateAsync(request, deadline: DateTime.UtcNow.AddSeconds(60));
                    Assert.Single(response.ContainerResponses);
                }
                catch (RpcException e)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, e.Status.ToString(), null);
                }
            }
        })));

        var peak = cgroup.PeakBytes;
        output.WriteLine($"cgroup {cgroup.Version}: limit {Limit / 1048576} MiB, peak {peak / 1048576.0:0.0} MiB, "
            + $"oom kills {cgroup.OomKills}, {Clients * CallsPerClient} Allocate calls, {errors} errors");
        Assert.Equal(0, cgroup.OomKills);
        Assert.True(errors == 0, $"{errors} Allocate calls failed, the first: {firstError}\n{daemon.Stderr}");
        Assert.True(cgroup.Contains(daemon.Id), "the daemon is gone after the burst:\n" + daemon.Stderr);
        Assert.False(plugin.StreamEnded, "the ListAndWatch stream ended during the burst");

        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, cgroup.OomKills);
    }

    /// <summary>A child of this process's memory cgroup with a limit, removed again on dispose.</summary>
    private sealed class MemoryCgroup : IDisposable
    {
        private readonly string _peakFile;
        private readonly string _eventsFile;

        private MemoryCgroup(string path, string version, string peakFile, string eventsFile)
        {
            Path = path;
            Version = version;
            _peakFile = peakFile;
            _eventsFile = eventsFile;
        }

        public string Path { get; }

        public string Version { get; }

        public string ProcsFile => System.IO.Path.Combine(Path, "cgroup.procs");

        public long PeakBytes => long.TryParse(File.ReadAllText(_peakFile).Trim(), CultureInfo.InvariantCulture, out var v) ? v : -1;

        /// <summary>OOM kills in the group (v2 memory.events, v1 memory.oom_control).</summary>
        public long OomKills => File.ReadLines(_eventsFile)
            .Select(l => l.Split(' '))
            .Where(p => p.Length == 2 && p[0] == "oom_kill")
            .Select(p => long.Parse(p[1], CultureInfo.InvariantCulture))
            .FirstOrDefault();

        public bool Contains(int pid) =>
            File.ReadAllLines(ProcsFile).Contains(pid.ToString(CultureInfo.InvariantCulture));

        public static MemoryCgroup? TryCreate(long limit, out string why)
        {
            why = "";
            if (Environment.UserName != "root")
            {
                why = $"not root (running as {Environment.UserName})";
                return null;
            }

            var name = $"device-plugin-test-{Guid.NewGuid():N}";
            var own = File.ReadAllLines("/proc/self/cgroup");
            try
            {
                // cgroup v2: /sys/fs/cgroup is the unified hierarchy with the memory controller.
                if (File.Exists("/sys/fs/cgroup/cgroup.controllers")
                    && File.ReadAllText("/sys/fs/cgroup/cgroup.controllers").Split(' ', '\n').Contains("memory")
                    && own.FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal)) is { } v2)
                {
                    var parent = "/sys/fs/cgroup" + v2[3..].TrimEnd('/');
                    if (!File.ReadAllText(System.IO.Path.Combine(parent, "cgroup.subtree_control")).Contains("memory", StringComparison.Ordinal))
                    {
                        File.WriteAllText(System.IO.Path.Combine(parent, "cgroup.subtree_control"), "+memory");
                    }

                    var path = System.IO.Path.Combine(parent, name);
                    Directory.CreateDirectory(path);
                    File.WriteAllText(System.IO.Path.Combine(path, "memory.max"), limit.ToString(CultureInfo.InvariantCulture));
                    TryWrite(System.IO.Path.Combine(path, "memory.swap.max"), "0");
                    var peak = System.IO.Path.Combine(path, "memory.peak");
                    return new MemoryCgroup(path, "v2", File.Exists(peak) ? peak : System.IO.Path.Combine(path, "memory.current"),
                        System.IO.Path.Combine(path, "memory.events"));
                }

                // cgroup v1: the memory hierarchy mounted on its own.
                if (own.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains("memory")) is { } v1
                    && Directory.Exists("/sys/fs/cgroup/memory"))
                {
                    var path = System.IO.Path.Combine("/sys/fs/cgroup/memory" + v1[2].TrimEnd('/'), name);
                    Directory.CreateDirectory(path);
                    File.WriteAllText(System.IO.Path.Combine(path, "memory.limit_in_bytes"), limit.ToString(CultureInfo.InvariantCulture));
                    TryWrite(System.IO.Path.Combine(path, "memory.memsw.limit_in_bytes"), limit.ToString(CultureInfo.InvariantCulture));
                    return new MemoryCgroup(path, "v1", System.IO.Path.Combine(path, "memory.max_usage_in_bytes"),
                        System.IO.Path.Combine(path, "memory.oom_control"));
                }

                why = "neither a cgroup v2 memory controller at /sys/fs/cgroup nor a v1 memory hierarchy";
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                why = e.Message;
                return null;
            }
        }

        private static void TryWrite(string file, string value)
        {
            try
            {
                if (File.Exists(file))
                {
                    File.WriteAllText(file, value);
                }
            }
            catch (IOException)
            {
                // No swap accounting: the limit is on memory alone.
            }
        }

        public void Dispose()
        {
            // The daemon is gone by now (killed at the latest by DaemonProcess.Dispose); a group still busy is left.
            SpinWait.SpinUntil(() =>
            {
                try
                {
                    Directory.Delete(Path);
                    return true;
                }
                catch (IOException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(10));
        }
    }
}
