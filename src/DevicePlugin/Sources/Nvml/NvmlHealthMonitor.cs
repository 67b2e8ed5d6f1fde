using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>The GPU set (with its topology), each GPU with its current health in set order, and the shared device nodes present now.</summary>
internal sealed record NvmlHealthState(NvmlGpuSet Set, ImmutableArray<PhysicalDevice> Devices, ImmutableArray<string> SharedDeviceNodes)
{
    public TopologyMatrix Topology => Set.Topology;
}

/// <summary>
/// Watches GPU health on a dedicated thread (nvmlEventSetWait_v2 blocks its caller): critical XIDs not in
/// <c>health.ignoredXids</c> and double-bit ECC events mark the GPU they name; GPU_IS_LOST marks the GPUs that no
/// longer answer; an error that names no GPU marks all of them. An unhealthy GPU is probed with one cheap NVML
/// call on each wake and recovers under the <see cref="FaultLedger"/> rule. The wait times out every poll
/// interval, so recovery and the shared device nodes are re-evaluated at least that often; any change is handed
/// to the owner through the change callback. The same thread checks whether GPUs came or went
/// (<see cref="NvmlRescanner"/>); on a new set it registers the new GPUs for events (re-creating the event set when
/// a GPU left, so no event names a stale handle) and keeps the ledger of the GPUs that stay.
/// </summary>
internal sealed class NvmlHealthMonitor : IDisposable
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
    private readonly ManualResetEventSlim _stop = new(false);

    /// <summary>UUIDs whose last probe failed (health thread only).</summary>
    private readonly HashSet<string> _notAnswering = new(StringComparer.Ordinal);

    /// <summary>The GPUs watched now; replaced only by the health thread (after <see cref="Start"/>).</summary>
    private NvmlGpuSet _set;
    private Thread? _thread;
    private nint _eventSet;
    private volatile HealthConfig _health;
    private volatile NvmlHealthState _state;

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
        Action changed)
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
        _state = new NvmlHealthState(gpus, gpus.HealthyDevices, NvmlSharedDeviceNodes.Find(devRoot));
    }

    /// <summary>The latest evaluated state; replaced (never mutated) on each change.</summary>
    public NvmlHealthState State => _state;

    /// <summary>Applies a new <c>health:</c> section; it takes effect on the next wake.</summary>
    public void UpdateHealthConfig(HealthConfig health) => _health = health;

    /// <summary>Creates the event set, registers each GPU and starts the health thread.</summary>
    public void Start()
    {
        CreateEventSet();
        _thread = new Thread(Run) { IsBackground = true, Name = "nvml-health" };
        _thread.Start();
    }

    /// <summary>Stops the thread (within one poll interval) and frees the event set. NVML itself stays initialised.</summary>
    public void Dispose()
    {
        _stop.Set();
        var stopped = _thread is null || _thread.Join(StopTimeout);
        if (!stopped)
        {
            Log.HealthThreadStuck(_logger, StopTimeout.TotalSeconds);
            return;
        }

        if (_eventSet != 0)
        {
            _nvml.EventSetFree(_eventSet);
            _eventSet = 0;
        }

        _stop.Dispose();
    }

    /// <summary>Creates the event set and registers every GPU of the current set; without one, no events come.</summary>
    private void CreateEventSet()
    {
        var r = _nvml.EventSetCreate(out _eventSet);
        if (r != NvmlReturn.Success)
        {
            _eventSet = 0;
            Log.EventSetUnavailable(_logger, _nvml.Describe(r));
            return;
        }

        foreach (var gpu in _set.Gpus)
        {
            Register(gpu);
        }
    }

    private void Register(NvmlGpu gpu)
    {
        var types = NvmlEventTypes.Monitored;
        if (_nvml.HasSupportedEventTypes)
        {
            var r = _nvml.GetSupportedEventTypes(gpu.Handle, out var supported);
            if (r == NvmlReturn.Success)
            {
                types &= supported;
            }
            else
            {
                Log.SupportedEventTypesUnreadable(_logger, gpu.Uuid, _nvml.Describe(r));
            }
        }

        if (types == 0)
        {
            Log.GpuNotMonitored(_logger, gpu.Uuid, "it supports neither XID nor double-bit ECC events");
            return;
        }

        var registered = _nvml.RegisterEvents(gpu.Handle, types, _eventSet);
        if (registered != NvmlReturn.Success)
        {
            Log.GpuNotMonitored(_logger, gpu.Uuid, "nvmlDeviceRegisterEvents answered " + _nvml.Describe(registered));
        }
    }

    private void Run()
    {
        var timeoutMs = (uint)Math.Clamp(_pollInterval.TotalMilliseconds, 1, uint.MaxValue);
        while (!_stop.IsSet)
        {
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
                _stop.Wait(_pollInterval);
            }
        }
    }

    private void HandleEvent(in NvmlEventData data)
    {
        var critical = data.EventType & (NvmlEventTypes.XidCriticalError | NvmlEventTypes.DoubleBitEccError);
        if (critical == 0)
        {
            Log.EventIgnored(_logger, data.EventType);
            return;
        }

        if (!_set.TryFind(data.Device, out var index))
        {
            var what = (data.EventType & NvmlEventTypes.XidCriticalError) != 0 ? $"XID {data.EventData}" : "double-bit ECC error";
            var cause = DeviceFaultKind.DoubleBitEcc;
            if ((data.EventType & NvmlEventTypes.XidCriticalError) != 0)
            {
                _metrics.RecordXid("", data.EventData);
                cause = DeviceFaultKind.Xid;
                if (_health.IgnoredXids.Contains(data.EventData))
                {
                    Log.XidIgnored(_logger, "an unknown GPU", data.EventData);
                    return;
                }
            }
            else
            {
                _metrics.RecordFault("", DeviceFaultKind.DoubleBitEcc);
            }

            FaultAll($"{what} on a GPU NVML did not name", cause);
            return;
        }

        var gpu = _set.Gpus[index];
        if ((data.EventType & NvmlEventTypes.XidCriticalError) != 0)
        {
            var xid = data.EventData;
            _metrics.RecordXid(gpu.Uuid, xid);
            if (_health.IgnoredXids.Contains(xid))
            {
                Log.XidIgnored(_logger, gpu.Uuid, xid);
            }
            else
            {
                Log.XidCritical(_logger, gpu.Uuid, xid);
                _ledger.RecordEvent(gpu.Uuid, $"XID {xid}");
            }
        }

        if ((data.EventType & NvmlEventTypes.DoubleBitEccError) != 0)
        {
            Log.DoubleBitEcc(_logger, gpu.Uuid);
            _metrics.RecordFault(gpu.Uuid, DeviceFaultKind.DoubleBitEcc);
            _ledger.RecordEvent(gpu.Uuid, "double-bit ECC error");
        }
    }

    /// <summary>GPU_IS_LOST names no GPU: probe each, and mark all when none admits to it.</summary>
    private void HandleLostGpu()
    {
        var attributed = false;
        foreach (var gpu in _set.Gpus)
        {
            if (Probe(gpu))
            {
                attributed = true;
            }
        }

        if (!attributed)
        {
            FaultAll("NVML reported a lost GPU and every GPU still answers", DeviceFaultKind.Lost);
        }
    }

    /// <summary>Marks every GPU; <paramref name="cause"/> explains their health change (the fault itself named no GPU).</summary>
    private void FaultAll(string reason, string cause)
    {
        Log.AllGpusFaulted(_logger, reason);
        foreach (var gpu in _set.Gpus)
        {
            _metrics.RecordCause(gpu.Uuid, cause);
            _ledger.RecordEvent(gpu.Uuid, reason);
        }
    }

    /// <summary>One cheap call on the GPU's handle; returns true when it failed (the condition holds).</summary>
    private bool Probe(NvmlGpu gpu)
    {
        var r = _nvml.GetMemoryInfo(gpu.Handle, out _);
        var failing = r != NvmlReturn.Success;
        if (failing && _notAnswering.Add(gpu.Uuid))
        {
            Log.GpuNotAnswering(_logger, gpu.Uuid, _nvml.Describe(r));
            _metrics.RecordFault(gpu.Uuid, DeviceFaultKind.Lost);
        }
        else if (!failing)
        {
            _notAnswering.Remove(gpu.Uuid);
        }

        _ledger.ObserveCondition(gpu.Uuid, NotAnsweringCondition, failing);
        return failing;
    }

    /// <summary>
    /// Asks the rescanner whether the GPU set changed; on a new set, forgets the GPUs that left, registers the new
    /// ones for events and returns true (the state is rebuilt by the next <see cref="Reevaluate"/>).
    /// </summary>
    private bool Rescan()
    {
        var previous = _set;
        var next = _rescanner.Check(previous);
        if (next is null)
        {
            return false;
        }

        var removed = previous.Gpus.Where(g => !next.Contains(g.Uuid)).ToArray();
        var added = next.Gpus.Where(g => !previous.Contains(g.Uuid)).ToArray();
        foreach (var gpu in removed)
        {
            _ledger.Forget(gpu.Uuid);
            _notAnswering.Remove(gpu.Uuid);
        }

        _set = next;
        var staleHandle = previous.Gpus.Any(g => !next.TryFind(g.Handle, out _));
        if (_eventSet != 0 && staleHandle)
        {
            // NVML cannot unregister a device: start a fresh event set so no event names a GPU that left.
            _nvml.EventSetFree(_eventSet);
            CreateEventSet();
        }
        else if (_eventSet != 0)
        {
            foreach (var gpu in next.Gpus.Where(g => !previous.TryFind(g.Handle, out _)))
            {
                Register(gpu);
            }
        }

        Log.GpuSetChanged(_logger, next.Gpus.Length, string.Join(", ", added.Select(g => g.Uuid)),
            string.Join(", ", removed.Select(g => g.Uuid)));
        return true;
    }

    /// <summary>Probes unhealthy GPUs, applies the recovery rule and publishes the state when anything changed.</summary>
    private void Reevaluate(bool setChanged)
    {
        var previous = _state;
        var set = _set;
        var health = _health;
        var before = setChanged ? previous.Devices.ToDictionary(d => d.Id, StringComparer.Ordinal) : null;
        var devices = ImmutableArray.CreateBuilder<PhysicalDevice>(set.Gpus.Length);
        var changed = setChanged;
        for (var i = 0; i < set.Gpus.Length; i++)
        {
            var gpu = set.Gpus[i];
            var device = before is null
                ? previous.Devices[i]
                : before.TryGetValue(gpu.Uuid, out var kept)
                    ? set.HealthyDevices[i] with { Health = kept.Health, UnhealthyReason = kept.UnhealthyReason }
                    : set.HealthyDevices[i];
            // On a new set every GPU is probed once: one kept only because the driver could not say it left may no
            // longer answer, and must not stay listed as healthy.
            if (setChanged || device.Health == DeviceHealth.Unhealthy || _notAnswering.Contains(gpu.Uuid))
            {
                Probe(gpu);
            }

            var status = _ledger.Evaluate(gpu.Uuid, health.RecoverAfter, out var reason);
            if (device.Health != status || device.UnhealthyReason != reason)
            {
                if (device.Health != status)
                {
                    Log.HealthChanged(_logger, gpu.Uuid, status, reason ?? "no fault");
                }

                device = set.HealthyDevices[i] with { Health = status, UnhealthyReason = reason };
                changed = true;
            }

            devices.Add(device);
        }

        var shared = NvmlSharedDeviceNodes.Find(_devRoot);
        if (!shared.SequenceEqual(previous.SharedDeviceNodes))
        {
            Log.SharedDeviceNodesChanged(_logger, string.Join(", ", shared));
            changed = true;
        }

        if (changed)
        {
            _state = new NvmlHealthState(set, devices.MoveToImmutable(), shared);
            try
            {
                _changed();
            }
            catch (Exception e)
            {
                // The thread must outlive a failing consumer: the next change publishes the whole state again.
                Log.PublishFailed(_logger, e);
            }
        }
    }
}
