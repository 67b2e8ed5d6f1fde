using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// Watches GPU health on a dedicated thread (nvmlEventSetWait_v2 blocks its caller), the background loop
/// <c>nvml-health</c>: a pass that throws is logged, shown on /readyz and in the loop metrics, and the next pass
/// follows one poll interval later. critical XIDs not in
/// <c>health.ignoredXids</c> and double-bit ECC events mark the GPU they name; GPU_IS_LOST marks the GPUs that no
/// longer answer; an error that names no GPU marks all of them. An unhealthy GPU is probed with one cheap NVML
/// call on each wake and recovers under the <see cref="FaultLedger"/> rule. The wait times out every poll
/// interval, so recovery and the shared device nodes are re-evaluated at least that often; any change is handed
/// to the owner through the change callback. The same thread checks whether GPUs came or went
/// (<see cref="NvmlRescanner"/>); on a new set it registers the new GPUs for events (re-creating the event set when
/// a GPU left, so no event names a stale handle) and keeps the ledger of the GPUs that stay.
/// <para>
/// MIG: events are registered on the parent GPU. An event whose GPU and compute instance ids are both set is
/// recorded against that MIG device only; any other fault of the GPU (an unattributed event, a lost GPU) is recorded
/// against the GPU, and a MIG device is unhealthy while either it or its GPU is. A MIG configuration change event
/// makes the same wake discover the GPUs again.
/// </para>
/// </summary>
internal sealed partial class NvmlHealthMonitor : IDisposable
{
    /// <summary>The ledger condition of a GPU that answers GPU_IS_LOST (or any error) to the probe.</summary>
    internal const string NotAnsweringCondition = "GPU lost or not answering NVML";

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly NvmlLibrary _nvml;
    private readonly NvmlRescanner _rescanner;
    private readonly FaultLedger _ledger;
    private readonly string _devRoot;
    private readonly TimeSpan _pollInterval;
    private readonly NvmlMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly BackgroundLoop _loop;

    /// <summary>UUIDs whose last probe failed (health thread only).</summary>
    private readonly HashSet<string> _notAnswering = new(StringComparer.Ordinal);

    /// <summary>The GPUs watched now; replaced only by the health thread (after <see cref="Start"/>).</summary>
    private NvmlGpuSet _set;
    private nint _eventSet;
    private volatile HealthConfig _health;
    private volatile NvmlHealthState _state;

    /// <summary>Set by a MIG configuration change event, cleared by the rescan it triggers (health thread only).</summary>
    private bool _migReconfigured;

    public NvmlHealthMonitor(
        NvmlLibrary nvml,
        NvmlGpuSet gpus,
        NvmlRescanner rescanner,
        HealthConfig health,
        string devRoot,
        TimeSpan pollInterval,
        TimeProvider time,
        NvmlMetrics metrics,
        ILogger logger,
        Action changed,
        LoopHealth? loops = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(pollInterval, TimeSpan.Zero);
        _nvml = nvml;
        _set = gpus;
        _rescanner = rescanner;
        _ledger = new FaultLedger(time);
        _health = health;
        _devRoot = devRoot;
        _pollInterval = pollInterval;
        _metrics = metrics;
        _logger = logger;
        _changed = changed;
        _loop = new BackgroundLoop("nvml-health", Pass, logger, loops, period: TimeSpan.Zero, retryAfter: pollInterval);
        _state = new NvmlHealthState(gpus, gpus.HealthyDevices, gpus.HealthyMigDevices, NvmlSharedDeviceNodes.Find(devRoot));
    }

    /// <summary>The latest evaluated state; replaced (never mutated) on each change.</summary>
    public NvmlHealthState State => _state;

    /// <summary>Applies a new <c>health:</c> section; it takes effect on the next wake.</summary>
    public void UpdateHealthConfig(HealthConfig health) => _health = health;

    /// <summary>Creates the event set, registers each GPU and starts the health thread.</summary>
    public void Start()
    {
        CreateEventSet();
        _loop.StartOnThread();
    }

    /// <summary>Stops the thread (within one poll interval) and frees the event set. NVML itself stays initialised.</summary>
    public void Dispose()
    {
        var stopped = _loop.StopAsync().Wait(StopTimeout);
        if (!stopped)
        {
            NvmlLog.HealthThreadStuck(_logger, StopTimeout.TotalSeconds);
            return;
        }

        if (_eventSet != 0)
        {
            _nvml.EventSetFree(_eventSet);
            _eventSet = 0;
        }

        _loop.DisposeAsync().AsTask().Wait(StopTimeout);
    }

    /// <summary>One wake: wait for an event (at most one poll interval), handle it, rescan, re-evaluate.</summary>
    private Task Pass(CancellationToken stop)
    {
        var timeoutMs = (uint)Math.Clamp(_pollInterval.TotalMilliseconds, 1, uint.MaxValue);
        var backOff = false;
        if (_eventSet != 0)
        {
            var r = _nvml.EventSetWait(_eventSet, out var data, timeoutMs);
            switch (r)
            {
                case NvmlReturn.Success:
                    HandleEvent(data);
                    break;
                case NvmlReturn.Timeout:
                    break;
                case NvmlReturn.GpuIsLost:
                    HandleLostGpu();
                    backOff = true;
                    break;
                default:
                    FaultAll($"NVML event wait failed: {_nvml.Describe(r)}", "nvml_error");
                    backOff = true;
                    break;
            }
        }
        else
        {
            backOff = true;
        }

        Reevaluate(Rescan());
        if (backOff)
        {
            stop.WaitHandle.WaitOne(_pollInterval);
        }

        return Task.CompletedTask;
    }
}
