using DevicePlugin.KubeletEmulator;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>The whole daemon with the nvml source, against the stand-in libnvidia-ml, seen from the kubelet emulator.</summary>
public sealed class NvmlDaemonTests(ITestOutputHelper output)
{
    private const string Config = """
        resources:
          - name: nvidia.com/gpu
            source: nvml
            replicas: 2
        """;

    private static Task<PluginNode> StartAsync(FakeNvml fake, string config = Config) =>
        PluginNode.StartAsync(config, options: o =>
        {
            Directory.CreateDirectory(o.DevRoot);
            File.WriteAllBytes(Path.Combine(o.DevRoot, "nvidiactl"), []);
            File.WriteAllBytes(Path.Combine(o.DevRoot, "nvidia-uvm"), []);
            return o with { NvmlLibrary = fake.LibraryPath };
        });

    [Fact]
    public async Task The_kubelet_sees_every_gpu_with_replicas_and_numa_and_allocate_gives_nodes_and_uuids()
    {
        using var fake = FakeNvml.Create(NvmlHarness.Gpus(4));
        await using var node = await StartAsync(fake);
        var plugin = await node.RegistrationAsync("nvidia.com/gpu");
        var list = await plugin.WaitForListAsync(l => l.Devices.Count == 8, PluginNode.Wait);

        Assert.Equal(
            ["GPU-test-0::0", "GPU-test-0::1", "GPU-test-1::0", "GPU-test-1::1", "GPU-test-2::0", "GPU-test-2::1", "GPU-test-3::0", "GPU-test-3::1"],
            list.Devices.Select(d => d.ID));
        Assert.All(list.Devices, d => Assert.Equal(0, d.Topology.Nodes.Single().ID));

        var response = await plugin.AllocateAsync("GPU-test-2::1", "GPU-test-0::0", "GPU-test-2::0");
        var container = response.ContainerResponses.Single();
        Assert.Equal("GPU-test-2,GPU-test-0", container.Envs["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal(["/dev/nvidia2", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"], container.Devices.Select(d => d.HostPath));
        Assert.All(container.Devices, d => Assert.Equal((d.HostPath, "rw"), (d.ContainerPath, d.Permissions)));
    }

    /// <summary>
    /// The nvml source with its periodic checks (event wait timeout, rescan, UUID check) an hour away: the health thread
    /// then wakes only for an event.
    /// </summary>
    private static readonly SourceFactory HourlyChecks = (kind, context) => kind == NvmlSchema.Kind
        ? new NvmlSource(
            new NvmlSourceOptions
            {
                LibraryPath = context.Options.NvmlLibrary,
                SysfsRoot = context.Options.SysfsRoot,
                DevRoot = context.Options.DevRoot,
                ProcRoot = context.Options.ProcRoot,
                FailOnInitError = context.FailOnInitError,
                HealthPollInterval = TimeSpan.FromHours(1),
                RescanInterval = TimeSpan.FromHours(1),
                UuidCheckInterval = TimeSpan.FromHours(1),
            },
            context.Sink, context.Time, context.Loggers, context.Metrics, context.Loops)
        : DeviceSources.Builtin.Create(kind, context);

    /// <summary>
    /// How fast an XID reaches the kubelet is the process benchmark's to measure (injected XID to ListAndWatch,
    /// tests/DevicePlugin.ProcessBench): under a parallel test run on a small machine the wall time says more about the
    /// load than about the daemon. This asserts what the daemon controls: the event is acted on in the wake-up that
    /// received it. Every periodic check is an hour away, so only the event can wake the health thread, and the list
    /// must arrive before the thread's next wait has returned (at most one more nvmlEventSetWait_v2 call: the next
    /// hour-long wait). The wall time seen goes to the test output.
    /// </summary>
    [Fact]
    public async Task A_critical_xid_reaches_the_kubelet_as_that_gpus_replicas_unhealthy_in_the_wake_up_that_received_it()
    {
        using var fake = FakeNvml.Create(NvmlHarness.Gpus(4));
        var node = await PluginNode.StartAsync(Config, sources: HourlyChecks, options: o =>
        {
            Directory.CreateDirectory(o.DevRoot);
            File.WriteAllBytes(Path.Combine(o.DevRoot, "nvidiactl"), []);
            File.WriteAllBytes(Path.Combine(o.DevRoot, "nvidia-uvm"), []);
            return o with { NvmlLibrary = fake.LibraryPath };
        });
        try
        {
            await XidActedOnInItsWakeUpAsync(node, fake);
        }
        finally
        {
            await StopWakingTheHealthThreadAsync(node, fake);
        }
    }

    /// <summary>
    /// Stops the daemon while injecting an ignored XID (13) over and over: a health thread in an hour-long wait would
    /// otherwise hold up the stop, and the stand-in library would be unloaded under it.
    /// </summary>
    private static async Task StopWakingTheHealthThreadAsync(PluginNode node, FakeNvml fake)
    {
        using var stopped = new CancellationTokenSource();
        var waker = Task.Run(async () =>
        {
            while (!stopped.IsCancellationRequested)
            {
                fake.Inject("xid 0 13");
                await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None);
            }
        });
        try
        {
            await node.DisposeAsync();
        }
        finally
        {
            await stopped.CancelAsync();
            await waker;
        }
    }

    private async Task XidActedOnInItsWakeUpAsync(PluginNode node, FakeNvml fake)
    {
        var plugin = await node.RegistrationAsync("nvidia.com/gpu");
        await plugin.WaitForListAsync(l => l.HealthyCount == 8, PluginNode.Wait);

        // The health thread is in its first hour-long wait once the stand-in counted it; no other wait starts until an event.
        const string wait = "nvmlEventSetWait_v2";
        Assert.True(SpinWait.SpinUntil(() => fake.Calls(wait) >= 1, PluginNode.Wait), "the health thread never waited for an event");
        var waitsBefore = fake.Calls(wait);

        var injected = DateTimeOffset.UtcNow;
        fake.Inject("xid 1 79");
        var list = await plugin.WaitForListAsync(l => l.HealthyCount == 6, PluginNode.Wait);
        var waitsAfter = fake.Calls(wait);
        output.WriteLine($"injected XID to list at the kubelet: {(list.ReceivedAt - injected).TotalMilliseconds:0} ms wall time; event waits {waitsBefore} -> {waitsAfter}");
        Assert.InRange(waitsAfter, waitsBefore, waitsBefore + 1);
        Assert.Same(plugin, node.Kubelet.Plugins["nvidia.com/gpu"]);
        Assert.False(plugin.StreamEnded);
        Assert.Equal(["GPU-test-1::0", "GPU-test-1::1"], list.Devices.Where(d => d.Health != "Healthy").Select(d => d.ID));
        var metrics = await node.ScrapeAsync();
        var gpu1 = ("device", "GPU-test-1");
        Assert.True(metrics.Text.Contains("device_plugin_device_faults_total{resource=\"nvidia.com/gpu\",device=\"GPU-test-1\",kind=\"xid\",code=\"79\"} 1", StringComparison.Ordinal), metrics.Text);
        Assert.Equal(0, metrics.Value("device_plugin_device_health", gpu1, ("model", "NVIDIA H100 80GB HBM3"), ("numa_node", "0"), ("pci_address", "0000:28:00.0")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health", ("device", "GPU-test-2")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health_transitions_total", ("resource", "nvidia.com/gpu"), gpu1, ("to", "Unhealthy"), ("cause", "xid")));
        Assert.Equal(0, metrics.Value("device_plugin_device_faults_total", gpu1, ("kind", "dbe")));
        const string line = "device GPU-test-1 is now Unhealthy (cause xid: XID 79";
        await Eventually.TrueAsync(() => node.Logs.Contains(line), "the transition is logged");
        Assert.Single(node.Logs.Lines, l => l.Contains(line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_nvml_and_fail_on_init_error_false_the_daemon_serves_the_other_resources()
    {
        const string config = """
            resources:
              - name: nvidia.com/gpu
                source: nvml
              - name: example.com/sim
                source: simulated
                devices: [{ id: s0 }]
            """;
        await using var node = await PluginNode.StartAsync(config, options: o => o with { NvmlLibrary = "/nonexistent/libnvidia-ml.so.1", FailOnInitError = false });
        var sim = await node.RegistrationAsync("example.com/sim");
        await sim.WaitForListAsync(l => l.Devices.Count == 1, PluginNode.Wait);
        Assert.False(node.Kubelet.Plugins.ContainsKey("nvidia.com/gpu"));
        Assert.True(node.Logs.Contains("/nonexistent/libnvidia-ml.so.1"), "the log says why NVML is missing");
        await Eventually.TrueAsync(() => node.Daemon.Resources.AllRegistered, "ready with what did start");
    }

    [Fact]
    public async Task Without_nvml_the_process_exits_one_when_fail_on_init_error_is_true()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Config);
        var (code, _, stderr) = await DaemonProcess.RunAsync(
            ["--config", config, "--kubelet-dir", dir.Combine("k"), "--nvml-library", "/nonexistent/libnvidia-ml.so.1", "--metrics-address="]);
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/libnvidia-ml.so.1", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_driver_that_is_not_loaded_exits_one_and_with_the_flag_false_the_process_keeps_running()
    {
        using var fake = FakeNvml.Create("init_return 9\n" + NvmlHarness.Gpus(1));
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Config);
        string[] args = ["--config", config, "--kubelet-dir", dir.Combine("k"), "--nvml-library", fake.LibraryPath, "--metrics-address="];

        var (code, _, _) = await DaemonProcess.RunAsync(args);
        Assert.Equal(1, code);

        await using var kubelet = new EmulatedKubelet(dir.Combine("k"));
        await kubelet.StartAsync();
        using var degraded = new DaemonProcess([.. args, "--fail-on-init-error=false"]);
        await Eventually.TrueAsync(() => degraded.Stderr.Contains("nvml", StringComparison.OrdinalIgnoreCase), "the degraded start is logged");
        degraded.Signal(15);
        Assert.Equal(0, await degraded.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task The_kubelet_emulator_command_prints_the_registration_lists_and_an_allocation_as_the_gpu_check_reads_them()
    {
        using var fake = FakeNvml.Create(NvmlHarness.Gpus(2));
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("k");
        using var emulator = new DaemonProcess(["kubelet-emulator", "--kubelet-dir", kubeletDir, "--create-dir", "--allocate", "1"]);
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(kubeletDir, "kubelet.sock")), "the emulator listens");

        // No --config: the built-in defaults advertise nvidia.com/gpu from NVML.
        using var daemon = new DaemonProcess(["--kubelet-dir", kubeletDir, "--nvml-library", fake.LibraryPath, "--metrics-address="]);
        await Eventually.TrueAsync(() => emulator.Stdout.Contains("allocation pod=", StringComparison.Ordinal), "an allocation is printed");
        var output = emulator.Stdout;
        Assert.Contains("registered resource=nvidia.com/gpu ", output, StringComparison.Ordinal);
        Assert.Contains("list resource=nvidia.com/gpu ", output, StringComparison.Ordinal);
        Assert.Contains("devices=\"GPU-test-0=Healthy@numa0 GPU-test-1=Healthy@numa0\"", output, StringComparison.Ordinal);
        Assert.Matches("allocation pod=default/allocate-gpu-1 container=main init=false resource=nvidia.com/gpu devices=GPU-test-[01] .*envs=NVIDIA_VISIBLE_DEVICES=GPU-test-", output);
        Assert.Contains("GPU GPU-test-0 (", daemon.Stderr, StringComparison.Ordinal);
    }
}
