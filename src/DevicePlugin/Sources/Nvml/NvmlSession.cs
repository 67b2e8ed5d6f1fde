using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// One successful NVML initialisation: the loaded library, the GPUs found, their topology (computed once, here) and
/// the health monitor. Disposing stops the monitor, then calls nvmlShutdown once and unloads the library.
/// </summary>
internal sealed class NvmlSession : IDisposable
{
    private readonly NvmlLibrary _nvml;
    private readonly ILogger _logger;
    private int _disposed;

    private NvmlSession(NvmlLibrary nvml, NvmlDiscoveryResult discovery, TopologyMatrix topology, NvmlHealthMonitor monitor, ILogger logger)
    {
        _nvml = nvml;
        MigGpusSkipped = discovery.MigGpusSkipped;
        Topology = topology;
        Monitor = monitor;
        _logger = logger;
    }

    public int MigGpusSkipped { get; }

    public TopologyMatrix Topology { get; }

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
        Action changed)
    {
        var nvml = NvmlLibrary.Load(options.LibraryPath, logger);
        var r = nvml.Init();
        if (r != NvmlReturn.Success)
        {
            var description = nvml.Describe(r);
            nvml.Dispose();
            throw new SourceInitException(
                $"NVML ({options.LibraryPath}) failed to initialise: nvmlInit_v2 answered {description}"
                + (r == NvmlReturn.DriverNotLoaded ? "; the NVIDIA kernel driver is not loaded" : ""));
        }

        try
        {
            var version = nvml.GetDriverVersion(out var v) == NvmlReturn.Success ? v : "unknown";
            var discovery = NvmlDiscovery.Discover(nvml, options.SysfsRoot, logger);
            if (discovery.DeviceCount == 0)
            {
                throw new SourceInitException($"NVML ({options.LibraryPath}, driver {version}) found no GPU on this node");
            }

            Log.NvmlStarted(logger, options.LibraryPath, version, discovery.DeviceCount, discovery.Gpus.Length, discovery.MigGpusSkipped);
            var topology = NvmlTopologyBuilder.Build(nvml, discovery.Gpus, logger);
            var monitor = new NvmlHealthMonitor(nvml, discovery.Gpus, health, options.DevRoot, options.HealthPollInterval,
                time, metrics, logger, changed);
            var session = new NvmlSession(nvml, discovery, topology, monitor, logger);
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
            Log.ShutdownFailed(_logger, _nvml.Describe(r));
        }

        _nvml.Dispose();
    }
}
