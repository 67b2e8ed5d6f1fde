using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>
/// An <see cref="NvmlSource"/> wired to its own stand-in library, fake sysfs and dev directories, a recording sink,
/// a manual clock and a collecting logger.
/// </summary>
public sealed class NvmlHarness : IAsyncDisposable
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);

    private NvmlHarness(FakeNvml fake, Func<NvmlSourceOptions, NvmlSourceOptions>? configure)
    {
        Fake = fake;
        Root = Path.Combine(Path.GetTempPath(), $"nvml-roots-{Guid.NewGuid():N}");
        Directory.CreateDirectory(SysfsRoot);
        Directory.CreateDirectory(DevRoot);
        FakeProc.WriteMigMinors(ProcRoot, gpus: 8);
        var options = new NvmlSourceOptions
        {
            LibraryPath = fake.LibraryPath,
            SysfsRoot = SysfsRoot,
            DevRoot = DevRoot,
            ProcRoot = ProcRoot,
            HealthPollInterval = TimeSpan.FromMilliseconds(50),
            RetryInterval = TimeSpan.FromMilliseconds(50),
        };
        Options = configure is null ? options : configure(options);
        Source = new NvmlSource(Options, Sink, Time, Logs, Metrics, Loops);
    }

    public FakeNvml Fake { get; }

    public string Root { get; }

    public string SysfsRoot => Path.Combine(Root, "sys");

    public string DevRoot => Path.Combine(Root, "dev");

    /// <summary>A fake <c>/proc</c> holding <c>driver/nvidia-caps/mig-minors</c> for GPU minors 0-7 (<see cref="FakeProc"/>).</summary>
    public string ProcRoot => Path.Combine(Root, "proc");

    public NvmlSourceOptions Options { get; }

    public RecordingInventorySink Sink { get; } = new(NvmlSchema.Kind);

    /// <summary>The gauges the source registers (the daemon's metrics in production).</summary>
    public RecordingSourceMetrics Metrics { get; } = new();

    public ManualTimeProvider Time { get; } = new();

    /// <summary>Where the health loop reports a failed pass (the daemon's /readyz and loop metrics in production).</summary>
    public LoopHealth Loops => _loops ??= new LoopHealth(LoopMetrics);

    /// <summary>The loop metrics (<c>device_plugin_background_loop_*</c>).</summary>
    public Prometheus.CollectorRegistry LoopMetrics { get; } = Prometheus.Metrics.NewCustomRegistry();

    private LoopHealth? _loops;

    public NvmlTestLoggerFactory Logs { get; } = new();

    public NvmlSource Source { get; }

    public HealthConfig Health { get; set; } = new();

    public static NvmlHarness Create(string config, bool withOptionalFunctions = true, Func<NvmlSourceOptions, NvmlSourceOptions>? configure = null,
        bool withMigFunctions = true) =>
        new(FakeNvml.Create(config, withOptionalFunctions, withMigFunctions), configure);

    public static NvmlHarness CreateWithoutLibrary(string config, Func<NvmlSourceOptions, NvmlSourceOptions>? configure = null) =>
        new(FakeNvml.CreateWithoutLibrary(config), configure);

    public static ResourceConfig Resource(string name = "nvidia.com/gpu", int replicas = 1, MigStrategy mig = MigStrategy.None) =>
        new() { Name = name, Source = NvmlSchema.Kind, Replicas = replicas, Settings = new NvmlSettings { MigStrategy = mig } };

    /// <summary>Applies the resources (default: one <c>nvidia.com/gpu</c>) with <see cref="Health"/>.</summary>
    public Task ApplyAsync(params ResourceConfig[] resources) =>
        ApplyAsync(new PluginConfig { Resources = resources.Length == 0 ? [Resource()] : [.. resources], Health = Health });

    /// <summary>Applies a configuration as the daemon does: the policies to the sink's join, the nvml part to the source.</summary>
    public Task ApplyAsync(PluginConfig config)
    {
        Sink.Policies = config.Policies;
        return Source.ApplyAsync(SourceAssignment.For(NvmlSchema.Kind, config), CancellationToken.None);
    }

    /// <summary>Starts with one resource and returns its first snapshot.</summary>
    public async Task<ResourceSnapshot> StartAsync(int replicas = 1)
    {
        await ApplyAsync(Resource(replicas: replicas));
        return Assert.Single(Sink.Latest);
    }

    /// <summary>Waits for a complete publication (every resource's snapshot) that matches.</summary>
    public async Task<ImmutableDictionary<string, ResourceSnapshot>> WaitForAllAsync(
        Func<ImmutableDictionary<string, ResourceSnapshot>, bool> predicate, TimeSpan? timeout = null)
    {
        var snapshots = await Sink.WaitForAsync(s => predicate(s.ToImmutableDictionary(x => x.ResourceName)), timeout ?? WaitLimit);
        return snapshots.ToImmutableDictionary(x => x.ResourceName);
    }

    /// <summary>Waits for a snapshot of the single resource that matches.</summary>
    public async Task<ResourceSnapshot> WaitForAsync(Func<ResourceSnapshot, bool> predicate, TimeSpan? timeout = null)
    {
        var snapshots = await Sink.WaitForAsync(s => s.Length == 1 && predicate(s[0]), timeout ?? WaitLimit);
        return snapshots[0];
    }

    public void SetSysfsNuma(string pciAddress, string value)
    {
        var dir = Path.Combine(SysfsRoot, "bus", "pci", "devices", pciAddress);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "numa_node"), value + "\n");
    }

    public void CreateDeviceNode(string name) => File.WriteAllBytes(Path.Combine(DevRoot, name), []);

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        Fake.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// nvml.conf lines for <paramref name="count"/> GPUs: UUID <c>GPU-test-N</c>, minor N, bus 0x18 + 0x10·N,
    /// NUMA node N / 4 (from NVML), compute capability 9.0.
    /// </summary>
    public static string Gpus(int count, string extra = "")
    {
        var text = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"gpu uuid={Uuid(i)} name=\"NVIDIA H100 80GB HBM3\" memory=85520809984 minor={i} pci={NvmlBusIdOf(i)} numa={i / 4} cc=9.0 {extra}\n");
        }

        return text.ToString();
    }

    public static string Uuid(int i) => $"GPU-test-{i}";

    /// <summary>The bus ID as NVML prints it for GPU <paramref name="i"/> of <see cref="Gpus"/>.</summary>
    public static string NvmlBusIdOf(int i) => string.Create(CultureInfo.InvariantCulture, $"00000000:{0x18 + (0x10 * i):X2}:00.0");

    /// <summary>The sysfs address of GPU <paramref name="i"/> of <see cref="Gpus"/>.</summary>
    public static string PciAddressOf(int i) => string.Create(CultureInfo.InvariantCulture, $"0000:{0x18 + (0x10 * i):x2}:00.0");

    public static string[] Ids(ResourceSnapshot snapshot) => [.. snapshot.Devices.Select(d => d.Id)];

    public static PhysicalDevice Device(ResourceSnapshot snapshot, string id) => snapshot.Devices.Single(d => d.Id == id);
}
