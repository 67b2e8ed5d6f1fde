using System.Diagnostics.Metrics;
using System.Globalization;
using DevicePlugin.Health;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// What the NVML source reports for metrics: faults (XIDs by code, double-bit ECC errors, lost GPUs) go to the sink,
/// which counts them in <c>device_plugin_device_faults_total</c>; the number of GPUs in MIG mode (never advertised
/// whole) and the <c>migStrategy: single</c> resources refusing to advertise are instruments on the <c>device_plugin</c> meter.
/// </summary>
internal sealed class NvmlMetrics : IDisposable
{
    // Exported by prometheus-net as <meter>_<instrument>: device_plugin_nvml_mig_gpus_skipped.
    public const string MeterName = Metrics.PluginMetrics.MeterName;
    public const string MigGpusSkipped = "nvml_mig_gpus_skipped";
    public const string MigStrategyRefused = "nvml_mig_strategy_refused";

    private readonly Meter _meter = new(MeterName);
    private readonly IInventorySink _sink;

    public NvmlMetrics(Func<int> migGpusSkipped, IInventorySink sink, Func<IEnumerable<(string Resource, string Reason)>> refusals)
    {
        _sink = sink;
        _meter.CreateObservableGauge(MigGpusSkipped, migGpusSkipped,
            description: "GPUs in MIG mode, which the nvml source never advertises whole");
        _meter.CreateObservableGauge(MigStrategyRefused, () => refusals().Select(r => new Measurement<int>(1,
                new KeyValuePair<string, object?>("resource", r.Resource), new KeyValuePair<string, object?>("reason", r.Reason))),
            description: "1 while a migStrategy single resource advertises nothing, by resource and reason "
                + "(mixed_mig_and_whole_gpus, mig_gpu_without_devices, differing_profiles)");
    }

    /// <summary>An XID on a GPU (empty: on a GPU NVML did not name).</summary>
    public void RecordXid(string gpu, ulong xid) =>
        _sink.RecordFault(SourceKind.Nvml, new DeviceFault(gpu, DeviceFaultKind.Xid, xid.ToString(CultureInfo.InvariantCulture)));

    /// <summary>A fault without a code (<see cref="DeviceFaultKind.DoubleBitEcc"/>, <see cref="DeviceFaultKind.Lost"/>).</summary>
    public void RecordFault(string gpu, string kind) => _sink.RecordFault(SourceKind.Nvml, new DeviceFault(gpu, kind));

    /// <summary>The cause of a GPU's coming health change that is no fault of its own (an NVML error naming no GPU).</summary>
    public void RecordCause(string gpu, string cause) =>
        _sink.RecordFault(SourceKind.Nvml, new DeviceFault(gpu, cause, Counted: false));

    public void Dispose() => _meter.Dispose();
}
