namespace DevicePlugin.Sources.Nvml;

/// <summary>Settings of the <c>nvml</c> source, from the command line (<c>--nvml-library</c>, <c>--sysfs-root</c>, …).</summary>
public sealed record NvmlSourceOptions
{
    public const string DefaultLibraryPath = "libnvidia-ml.so.1";

    /// <summary>The NVML shared library: a file name the loader searches for, or a path.</summary>
    public string LibraryPath { get; init; } = DefaultLibraryPath;

    /// <summary>
    /// A host driver tree mounted into the container (<c>--driver-root</c>): when <see cref="LibraryPath"/> is a bare
    /// file name, it is looked for in this tree's library directories first (<see cref="NvmlLibraryLocator"/>).
    /// </summary>
    public string? DriverRoot { get; init; }

    /// <summary>Where sysfs is read (NUMA fallback).</summary>
    public string SysfsRoot { get; init; } = HostPathDefaults.SysfsRoot;

    /// <summary>Where <c>driver/nvidia-caps/mig-minors</c> and <c>driver/nvidia/capabilities/</c> are read (MIG).</summary>
    public string ProcRoot { get; init; } = HostPathDefaults.ProcRoot;

    /// <summary>Where the shared device nodes are looked for; the paths handed out are always under <c>/dev</c>.</summary>
    public string DevRoot { get; init; } = HostPathDefaults.DevRoot;

    /// <summary>
    /// True: <see cref="NvmlSource.ApplyAsync"/> throws <see cref="SourceInitException"/> when NVML cannot start.
    /// False: it logs why, advertises nothing and retries every <see cref="RetryInterval"/>.
    /// </summary>
    public bool FailOnInitError { get; init; } = true;

    /// <summary>
    /// True when the daemon runs the built-in defaults (no <c>--config</c>): no NVIDIA driver or no GPU on the node is
    /// then logged as a warning, since the defaults run on nodes of every kind; a file that names the nvml source makes
    /// it an error.
    /// </summary>
    public bool HardwareOptional { get; init; }

    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A retry failing again for the same reason is logged at Warning at most this often (every failure is counted).</summary>
    public TimeSpan RetryWarningInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The health thread's event wait timeout: recovery and device nodes are re-checked this often.</summary>
    public TimeSpan HealthPollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How often the health thread asks nvmlDeviceGetCount_v2 whether GPUs came or went (one call); a different count
    /// re-runs discovery and the topology builder.
    /// </summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often the set of GPU UUIDs is read too (two calls per GPU), which notices a GPU replaced by another while
    /// the count stayed the same. Checked on a <see cref="RescanInterval"/> tick, so it is rounded up to one.
    /// </summary>
    public TimeSpan UuidCheckInterval { get; init; } = TimeSpan.FromMinutes(1);
}
