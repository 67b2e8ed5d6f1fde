using System.Globalization;
using DevicePlugin.Health;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// What the NVML source reports for metrics: faults (XIDs by code, double-bit ECC errors, lost GPUs) go to the sink,
/// which counts them in <c>device_plugin_device_faults_total</c>; the number of GPUs in MIG mode (never advertised
/// whole) and the <c>migStrategy: single</c> resources refusing to advertise are gauges in the daemon's own metrics
/// (<see cref="ISourceMetrics"/>).
/// </summary>
internal sealed class NvmlMetrics
{
    // Exported as device_plugin_<name>.
    public const string MigGpusSkipped = "nvml_mig_gpus_skipped";
    public const string MigStrategyRefused = "nvml_mig_strategy_refused";

    private readonly IInventorySink _sink;

    public NvmlMetrics(Func<int> migGpusSkipped, IInventorySink sink, Func<IEnumerable<(string Resource, string Reason)>> refusals,
        ISourceMetrics metrics)
    {
        _sink = sink;
        metrics.Gauge(MigGpusSkipped, "GPUs in MIG mode, which the nvml source never advertises whole", () => migGpusSkipped());
        metrics.Gauge(MigStrategyRefused, "1 while a migStrategy single resource advertises nothing, by resource and reason "
                + "(mixed_mig_and_whole_gpus, mig_gpu_without_devices, differing_profiles)",
            ["resource", "reason"], () => refusals().Select(r => (new[] { r.Resource, r.Reason }, 1.0)));
    }

    /// <summary>An XID on a GPU (empty: on a GPU NVML did not name).</summary>
    public void RecordXid(string gpu, ulong xid) =>
        _sink.RecordFault(NvmlSchema.Kind, new DeviceFault(gpu, DeviceFaultKind.Xid, xid.ToString(CultureInfo.InvariantCulture)));

    /// <summary>A fault without a code (<see cref="DeviceFaultKind.DoubleBitEcc"/>, <see cref="DeviceFaultKind.Lost"/>).</summary>
    public void RecordFault(string gpu, string kind) => _sink.RecordFault(NvmlSchema.Kind, new DeviceFault(gpu, kind));

    /// <summary>The cause of a GPU's coming health change that is no fault of its own (an NVML error naming no GPU).</summary>
    public void RecordCause(string gpu, string cause) =>
        _sink.RecordFault(NvmlSchema.Kind, new DeviceFault(gpu, cause, Counted: false));
}
