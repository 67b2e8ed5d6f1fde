using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// From the ledger to the published state: the probe of an unhealthy GPU, the check for GPUs that came or went (and a
/// MIG reconfiguration), and the evaluation of every GPU's and MIG device's health and the shared device nodes.
/// </summary>
internal sealed partial class NvmlHealthMonitor
{
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
