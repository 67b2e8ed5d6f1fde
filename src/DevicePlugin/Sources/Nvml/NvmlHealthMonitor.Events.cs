using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// NVML events into faults: the event set and each GPU's registration, then what an event, a lost GPU or an NVML error
/// means for which GPU or MIG device (recorded in the ledger, reported through the metrics, logged).
/// </summary>
internal sealed partial class NvmlHealthMonitor
{
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
}
