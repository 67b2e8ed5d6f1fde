using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The GPU set (with its topology), each GPU with its current health in set order, each MIG device with its current
/// health in <see cref="NvmlGpuSet.MigDevices"/> order, and the shared device nodes present now.
/// </summary>
internal sealed record NvmlHealthState(
    NvmlGpuSet Set, ImmutableArray<PhysicalDevice> Devices, ImmutableArray<PhysicalDevice> MigDevices, ImmutableArray<string> SharedDeviceNodes)
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
/// <para>
/// MIG: events are registered on the parent GPU. An event whose GPU and compute instance ids are both set is
/// recorded against that MIG device only; any other fault of the GPU (an unattributed event, a lost GPU) is recorded
/// against the GPU, and a MIG device is unhealthy while either it or its GPU is. A MIG configuration change event
/// makes the same wake discover the GPUs again.
/// </para>
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
            NvmlLog.HealthThreadStuck(_logger, StopTimeout.TotalSeconds);
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
            NvmlLog.EventSetUnavailable(_logger, _nvml.Describe(r));
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
        if (gpu.MigCapable && _nvml.HasMig)
        {
            types |= NvmlEventTypes.MigConfigChange;
        }

        if (_nvml.HasSupportedEventTypes)
        {
            var r = _nvml.GetSupportedEventTypes(gpu.Handle, out var supported);
            if (r == NvmlReturn.Success)
            {
                types &= supported;
            }
            else
            {
                NvmlLog.SupportedEventTypesUnreadable(_logger, gpu.Uuid, _nvml.Describe(r));
            }
        }

        if ((types & NvmlEventTypes.Monitored) == 0)
        {
            NvmlLog.GpuNotMonitored(_logger, gpu.Uuid, "it supports neither XID nor double-bit ECC events");
            return;
        }

        var registered = _nvml.RegisterEvents(gpu.Handle, types, _eventSet);
        if (registered != NvmlReturn.Success)
        {
            NvmlLog.GpuNotMonitored(_logger, gpu.Uuid, "nvmlDeviceRegisterEvents answered " + _nvml.Describe(registered));
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
        if ((data.EventType & NvmlEventTypes.MigConfigChange) != 0)
        {
            NvmlLog.MigConfigChanged(_logger, _set.TryFind(data.Device, out var changed) ? $"GPU {_set.Gpus[changed].Uuid}" : "an unknown GPU");
            _migReconfigured = true;
        }

        var critical = data.EventType & (NvmlEventTypes.XidCriticalError | NvmlEventTypes.DoubleBitEccError);
        if (critical == 0)
        {
            if ((data.EventType & NvmlEventTypes.MigConfigChange) == 0)
            {
                NvmlLog.EventIgnored(_logger, data.EventType);
            }

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
                    NvmlLog.XidIgnored(_logger, "an unknown GPU", data.EventData);
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

        // The ledger key: the MIG device the event names, else the GPU (which makes all its MIG devices unhealthy).
        // The fault is counted against the advertised devices it concerns.
        var target = gpu.Uuid;
        var where = $"GPU {gpu.Uuid}";
        var faulted = FaultedIds(gpu);
        if (gpu.MigEnabled && data.GpuInstanceId != NvmlEventTypes.NoInstance && data.ComputeInstanceId != NvmlEventTypes.NoInstance)
        {
            var gi = data.GpuInstanceId;
            var ci = data.ComputeInstanceId;
            if (gpu.MigDevices.FirstOrDefault(m => m.GpuInstanceId == gi && m.ComputeInstanceId == ci) is { } mig)
            {
                target = mig.Uuid;
                where = $"MIG device {mig.Uuid} of GPU {gpu.Uuid}";
                faulted = [mig.Uuid];
            }
            else
            {
                where = $"GPU {gpu.Uuid} (GPU instance {gi}, compute instance {ci}, which is not one of its MIG devices)";
            }
        }

        if ((data.EventType & NvmlEventTypes.XidCriticalError) != 0)
        {
            var xid = data.EventData;
            foreach (var id in faulted)
            {
                _metrics.RecordXid(id, xid);
            }

            if (_health.IgnoredXids.Contains(xid))
            {
                NvmlLog.XidIgnored(_logger, where, xid);
            }
            else
            {
                NvmlLog.XidCritical(_logger, where, xid);
                _ledger.RecordEvent(target, $"XID {xid}");
            }
        }

        if ((data.EventType & NvmlEventTypes.DoubleBitEccError) != 0)
        {
            NvmlLog.DoubleBitEcc(_logger, where);
            foreach (var id in faulted)
            {
                _metrics.RecordFault(id, DeviceFaultKind.DoubleBitEcc);
            }

            _ledger.RecordEvent(target, "double-bit ECC error");
        }
    }

    /// <summary>The advertised devices a fault of the whole GPU concerns: its MIG devices in MIG mode, else the GPU.</summary>
    private static string[] FaultedIds(NvmlGpu gpu) =>
        gpu.MigEnabled && !gpu.MigDevices.IsEmpty ? [.. gpu.MigDevices.Select(m => m.Uuid)] : [gpu.Uuid];

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
        NvmlLog.AllGpusFaulted(_logger, reason);
        foreach (var gpu in _set.Gpus)
        {
            foreach (var id in FaultedIds(gpu))
            {
                _metrics.RecordCause(id, cause);
            }

            _ledger.RecordEvent(gpu.Uuid, reason);
        }
    }

    /// <summary>One cheap call on the GPU's handle; returns true when it failed (the condition holds).</summary>
    private bool Probe(NvmlGpu gpu)
    {
        var r = _nvml.GetMemoryInfo(gpu.Handle, out _);

        // NO_PERMISSION is an answer: a GPU in MIG mode refuses its memory to a process without CAP_SYS_ADMIN.
        var failing = r is not (NvmlReturn.Success or NvmlReturn.NoPermission);
        if (failing && _notAnswering.Add(gpu.Uuid))
        {
            NvmlLog.GpuNotAnswering(_logger, gpu.Uuid, _nvml.Describe(r));
            foreach (var id in FaultedIds(gpu))
            {
                _metrics.RecordFault(id, DeviceFaultKind.Lost);
            }
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
        var next = _rescanner.Check(previous, _migReconfigured);
        _migReconfigured = false;
        if (next is null)
        {
            return false;
        }

        var nextMigs = next.MigDevices.Select(m => m.Uuid).ToHashSet(StringComparer.Ordinal);
        foreach (var mig in previous.MigDevices.Where(m => !nextMigs.Contains(m.Uuid)))
        {
            _ledger.Forget(mig.Uuid);
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

        NvmlLog.GpuSetChanged(_logger, next.Gpus.Length, string.Join(", ", added.Select(g => g.Uuid)),
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
                    NvmlLog.HealthChanged(_logger, gpu.Uuid, status, reason ?? "no fault");
                }

                device = set.HealthyDevices[i] with { Health = status, UnhealthyReason = reason };
                changed = true;
            }

            devices.Add(device);
        }

        var migs = EvaluateMigDevices(previous, set, devices, health.RecoverAfter, setChanged, ref changed);
        var shared = NvmlSharedDeviceNodes.Find(_devRoot);
        if (!shared.SequenceEqual(previous.SharedDeviceNodes))
        {
            NvmlLog.SharedDeviceNodesChanged(_logger, string.Join(", ", shared));
            changed = true;
        }

        if (changed)
        {
            _state = new NvmlHealthState(set, devices.MoveToImmutable(), migs, shared);
            try
            {
                _changed();
            }
            catch (Exception e)
            {
                // The thread must outlive a failing consumer: the next change publishes the whole state again.
                NvmlLog.PublishFailed(_logger, e);
            }
        }
    }

    /// <summary>
    /// Each MIG device's health: unhealthy while its own ledger entry or its GPU's says so, with the GPU's reason
    /// first. Sets <paramref name="changed"/> when any entry differs from the previous state's.
    /// </summary>
    private ImmutableArray<PhysicalDevice> EvaluateMigDevices(
        NvmlHealthState previous, NvmlGpuSet set, ImmutableArray<PhysicalDevice>.Builder gpus, TimeSpan recoverAfter,
        bool setChanged, ref bool changed)
    {
        var before = setChanged ? previous.MigDevices.ToDictionary(d => d.Id, StringComparer.Ordinal) : null;
        var migs = ImmutableArray.CreateBuilder<PhysicalDevice>(set.MigDevices.Length);
        for (var k = 0; k < set.MigDevices.Length; k++)
        {
            var mig = set.MigDevices[k];
            var parent = gpus[set.MigParents[k]];
            var own = _ledger.Evaluate(mig.Uuid, recoverAfter, out var ownReason);
            var status = parent.Health == DeviceHealth.Unhealthy || own == DeviceHealth.Unhealthy ? DeviceHealth.Unhealthy : DeviceHealth.Healthy;
            var reason = (parent.UnhealthyReason, ownReason) switch
            {
                ({ } p, { } o) => $"{p}; {o}",
                ({ } p, null) => p,
                (null, var o) => o,
            };
            PhysicalDevice? old = before is null ? previous.MigDevices[k] : before.GetValueOrDefault(mig.Uuid);
            var device = set.HealthyMigDevices[k];
            if (status != DeviceHealth.Healthy)
            {
                device = device with { Health = status, UnhealthyReason = reason };
            }

            if (old is null || old.Health != device.Health || old.UnhealthyReason != device.UnhealthyReason)
            {
                if (old is not null ? old.Health != device.Health : status != DeviceHealth.Healthy)
                {
                    NvmlLog.HealthChanged(_logger, mig.Uuid, status, reason ?? "no fault");
                }

                changed = true;
            }
            else if (!setChanged)
            {
                device = old;
            }

            migs.Add(device);
        }

        return migs.MoveToImmutable();
    }
}
