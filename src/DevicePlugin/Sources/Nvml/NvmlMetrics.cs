using System.Diagnostics.Metrics;
using System.Globalization;
using DevicePlugin.Health;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// What the NVML source reports for metrics: faults (XIDs by code, double-bit ECC errors, lost GPUs) go to the sink,
/// which counts them in <c>device_plugin_device_faults_total</c>; the number of GPUs left out because they are in
/// MIG mode is an instrument on the <c>device_plugin</c> meter.
/// </summary>
internal sealed class NvmlMetrics : IDisposable
{
    // Exported by prometheus-net as <meter>_<instrument>: device_plugin_nvml_mig_gpus_skipped.
    public const string MeterName = Metrics.PluginMetrics.MeterName;
    public const string MigGpusSkipped = "nvml_mig_gpus_skipped";

    private readonly Meter _meter = new(MeterName);
    private readonly IInventorySink _sink;

    public NvmlMetrics(Func<int> migGpusSkipped, IInventorySink sink)
    {
        _sink = sink;
        _meter.CreateObservableGauge(MigGpusSkipped, migGpusSkipped,
            description: "GPUs in MIG mode, which the nvml source does not advertise");
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
