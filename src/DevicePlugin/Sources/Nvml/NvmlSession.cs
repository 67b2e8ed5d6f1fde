using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// One successful NVML initialisation: the loaded library and the health monitor, which holds the GPUs found and
/// their topology (computed here at start, and again by the monitor's thread whenever the GPU set changes).
/// Disposing stops the monitor, then calls nvmlShutdown once and unloads the library.
/// </summary>
internal sealed class NvmlSession : IDisposable
{
    private readonly NvmlLibrary _nvml;
    private readonly ILogger _logger;
    private int _disposed;

    private NvmlSession(NvmlLibrary nvml, NvmlHealthMonitor monitor, ILogger logger)
    {
        _nvml = nvml;
        Monitor = monitor;
        _logger = logger;
    }

    public int MigGpusSkipped => Monitor.State.Set.MigGpusSkipped;

    /// <summary>The driver version NVML reported at start (<c>550.107.02</c>); empty when it did not answer.</summary>
    public string DriverVersion { get; private init; } = "";

    /// <summary>The CUDA version the driver supports (1000 * major + 10 * minor); null when unknown.</summary>
    public int? CudaDriverVersion { get; private init; }

    public NvmlHealthMonitor Monitor { get; }

    /// <summary>
    /// Loads and initialises NVML, discovers the GPUs, builds their topology and starts health monitoring.
    /// Throws <see cref="SourceInitException"/> when the library is missing, init fails or there is no GPU; NVML
    /// is shut down again before the exception leaves.
    /// </summary>
    public static NvmlSession Start(
        NvmlSourceOptions options,
        HealthConfig health,
        TimeProvider time,
        NvmlMetrics metrics,
        ILogger logger,
        Action changed,
        LoopHealth? loops = null)
    {
        var location = NvmlLibraryLocator.Locate(options.LibraryPath, options.DriverRoot);
        var library = location.Path;
        var nvml = NvmlLibrary.Load(library, logger, location.NotFoundHint);
        var r = nvml.Init();
        if (r != NvmlReturn.Success)
        {
            var description = nvml.Describe(r);
            nvml.Dispose();
            throw new SourceInitException(
                $"NVML ({library}) failed to initialise: nvmlInit_v2 answered {description}"
                + (r == NvmlReturn.DriverNotLoaded ? "; the NVIDIA kernel driver is not loaded" : ""));
        }

        try
        {
            var version = nvml.GetDriverVersion(out var v) == NvmlReturn.Success ? v : "unknown";
            var discovery = NvmlDiscovery.Discover(nvml, options.SysfsRoot, options.ProcRoot, logger);
            if (discovery.DeviceCount == 0)
            {
                throw new SourceInitException($"NVML ({library}, driver {version}) found no GPU on this node", noHardware: true);
            }

            NvmlLog.NvmlStarted(logger, library, version, discovery.DeviceCount, discovery.Gpus.Length, discovery.MigGpusSkipped);
            var gpus = NvmlGpuSet.FromDiscovery(discovery, NvmlTopologyBuilder.Build(nvml, discovery.Gpus, logger));
            var monitor = new NvmlHealthMonitor(nvml, gpus, new NvmlRescanner(nvml, options, time, logger), health,
                options.DevRoot, options.HealthPollInterval, time, metrics, logger, changed, loops);
            var session = new NvmlSession(nvml, monitor, logger)
            {
                DriverVersion = version == "unknown" ? "" : version,
                CudaDriverVersion = nvml.GetCudaDriverVersion(out var cuda) == NvmlReturn.Success && cuda > 0 ? cuda : null,
            };
            monitor.Start();
            return session;
        }
        catch
        {
            nvml.Shutdown();
            nvml.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Monitor.Dispose();
        var r = _nvml.Shutdown();
        if (r != NvmlReturn.Success)
        {
            NvmlLog.ShutdownFailed(_logger, _nvml.Describe(r));
        }

        _nvml.Dispose();
    }
}
