using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>The GPUs with their current health, and the shared device nodes present now.</summary>
internal sealed record NvmlHealthState(ImmutableArray<PhysicalDevice> Devices, ImmutableArray<string> SharedDeviceNodes);

/// <summary>
/// Watches GPU health on a dedicated thread (nvmlEventSetWait_v2 blocks its caller): critical XIDs not in
/// <c>health.ignoredXids</c> and double-bit ECC events mark the GPU they name; GPU_IS_LOST marks the GPUs that no
/// longer answer; an error that names no GPU marks all of them. An unhealthy GPU is probed with one cheap NVML
/// call on each wake and recovers under the <see cref="FaultLedger"/> rule. The wait times out every poll
/// interval, so recovery and the shared device nodes are re-evaluated at least that often; any change is handed
/// to the owner through the change callback.
/// </summary>
internal sealed class NvmlHealthMonitor : IDisposable
{
    /// <summary>The ledger condition of a GPU that answers GPU_IS_LOST (or any error) to the probe.</summary>
    internal const string NotAnsweringCondition = "GPU lost or not answering NVML";

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly NvmlLibrary _nvml;
    private readonly ImmutableArray<NvmlGpu> _gpus;
    private readonly ImmutableArray<PhysicalDevice> _healthyDevices;
    private readonly Dictionary<nint, int> _byHandle = [];
    private readonly FaultLedger _ledger;
    private readonly string _devRoot;
    private readonly TimeSpan _pollInterval;
    private readonly NvmlMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly bool[] _probe;
    private Thread? _thread;
    private nint _eventSet;
    private volatile HealthConfig _health;
    private volatile NvmlHealthState _state;

    public NvmlHealthMonitor(
        NvmlLibrary nvml,
        ImmutableArray<NvmlGpu> gpus,
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
        _gpus = gpus;
        _healthyDevices = [.. gpus.Select(g => g.ToPhysicalDevice())];
        for (var i = 0; i < gpus.Length; i++)
        {
            _byHandle[gpus[i].Handle] = i;
        }

        _ledger = new FaultLedger(time);
        _health = health;
        _devRoot = devRoot;
        _pollInterval = pollInterval;
        _metrics = metrics;
        _logger = logger;
        _changed = changed;
        _probe = new bool[gpus.Length];
        _state = new NvmlHealthState(_healthyDevices, NvmlSharedDeviceNodes.Find(devRoot));
    }

    /// <summary>The latest evaluated state; replaced (never mutated) on each change.</summary>
    public NvmlHealthState State => _state;

    /// <summary>Applies a new <c>health:</c> section; it takes effect on the next wake.</summary>
    public void UpdateHealthConfig(HealthConfig health) => _health = health;

    /// <summary>Creates the event set, registers each GPU and starts the health thread.</summary>
    public void Start()
    {
        var r = _nvml.EventSetCreate(out _eventSet);
        if (r != NvmlReturn.Success)
        {
            _eventSet = 0;
            Log.EventSetUnavailable(_logger, _nvml.Describe(r));
        }
        else
        {
            foreach (var gpu in _gpus)
            {
                Register(gpu);
            }
        }

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
                        FaultAll($"NVML event wait failed: {_nvml.Describe(r)}");
                        backOff = true;
                        break;
                }
            }
            else
            {
                backOff = true;
            }

            Reevaluate();
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

        if (!_byHandle.TryGetValue(data.Device, out var index))
        {
            var what = (data.EventType & NvmlEventTypes.XidCriticalError) != 0 ? $"XID {data.EventData}" : "double-bit ECC error";
            if ((data.EventType & NvmlEventTypes.XidCriticalError) != 0)
            {
                _metrics.RecordXid("unknown", data.EventData);
                if (_health.IgnoredXids.Contains(data.EventData))
                {
                    Log.XidIgnored(_logger, "an unknown GPU", data.EventData);
                    return;
                }
            }

            FaultAll($"{what} on a GPU NVML did not name");
            return;
        }

        var gpu = _gpus[index];
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
            _ledger.RecordEvent(gpu.Uuid, "double-bit ECC error");
        }
    }

    /// <summary>GPU_IS_LOST names no GPU: probe each, and mark all when none admits to it.</summary>
    private void HandleLostGpu()
    {
        var attributed = false;
        for (var i = 0; i < _gpus.Length; i++)
        {
            if (Probe(i))
            {
                attributed = true;
            }
        }

        if (!attributed)
        {
            FaultAll("NVML reported a lost GPU and every GPU still answers");
        }
    }

    private void FaultAll(string reason)
    {
        Log.AllGpusFaulted(_logger, reason);
        foreach (var gpu in _gpus)
        {
            _ledger.RecordEvent(gpu.Uuid, reason);
        }
    }

    /// <summary>One cheap call on the GPU's handle; returns true when it failed (the condition holds).</summary>
    private bool Probe(int index)
    {
        var gpu = _gpus[index];
        var r = _nvml.GetMemoryInfo(gpu.Handle, out _);
        var failing = r != NvmlReturn.Success;
        if (failing && !_probe[index])
        {
            Log.GpuNotAnswering(_logger, gpu.Uuid, _nvml.Describe(r));
        }

        _probe[index] = failing;
        _ledger.ObserveCondition(gpu.Uuid, NotAnsweringCondition, failing);
        return failing;
    }

    private void Reevaluate()
    {
        var previous = _state;
        var health = _health;
        var devices = ImmutableArray.CreateBuilder<PhysicalDevice>(_gpus.Length);
        var changed = false;
        for (var i = 0; i < _gpus.Length; i++)
        {
            if (previous.Devices[i].Health == DeviceHealth.Unhealthy || _probe[i])
            {
                Probe(i);
            }

            var status = _ledger.Evaluate(_gpus[i].Uuid, health.RecoverAfter, out var reason);
            var device = previous.Devices[i];
            if (device.Health != status || device.UnhealthyReason != reason)
            {
                if (device.Health != status)
                {
                    Log.HealthChanged(_logger, _gpus[i].Uuid, status, reason ?? "no fault");
                }

                device = _healthyDevices[i] with { Health = status, UnhealthyReason = reason };
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
            _state = new NvmlHealthState(devices.MoveToImmutable(), shared);
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
