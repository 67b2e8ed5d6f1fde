using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Globalization;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The NVML source's instruments on the <c>device_plugin</c> meter: XIDs by GPU and code, health per GPU, the
/// number of GPUs in MIG mode (never advertised whole) and the <c>single</c> resources refusing to advertise.
/// </summary>
internal sealed class NvmlMetrics : IDisposable
{
    // Exported by prometheus-net as <meter>_<instrument>: device_plugin_nvml_xid_total and so on.
    public const string MeterName = Metrics.PluginMetrics.MeterName;
    public const string XidTotal = "nvml_xid_total";
    public const string GpuHealthy = "nvml_gpu_healthy";
    public const string MigGpusSkipped = "nvml_mig_gpus_skipped";
    public const string MigStrategyRefused = "nvml_mig_strategy_refused";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _xids;

    public NvmlMetrics(Func<int> migGpusSkipped, Func<ImmutableArray<PhysicalDevice>> devices,
        Func<IEnumerable<(string Resource, string Reason)>> refusals)
    {
        _xids = _meter.CreateCounter<long>(XidTotal, description: "NVML XID events seen, by GPU UUID and XID code");
        _meter.CreateObservableGauge(MigGpusSkipped, migGpusSkipped,
            description: "GPUs in MIG mode, which the nvml source never advertises whole");
        _meter.CreateObservableGauge(MigStrategyRefused, () => refusals().Select(r => new Measurement<int>(1,
                new KeyValuePair<string, object?>("resource", r.Resource), new KeyValuePair<string, object?>("reason", r.Reason))),
            description: "1 while a migStrategy single resource advertises nothing, by resource and reason "
                + "(mixed_mig_and_whole_gpus, mig_gpu_without_devices, differing_profiles)");
        _meter.CreateObservableGauge(GpuHealthy, () => Healthy(devices()),
            description: "1 when the GPU is healthy, 0 when unhealthy, by GPU UUID");
    }

    public void RecordXid(string gpu, ulong xid) =>
        _xids.Add(1, new KeyValuePair<string, object?>("gpu", gpu),
            new KeyValuePair<string, object?>("xid", xid.ToString(CultureInfo.InvariantCulture)));

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<int>> Healthy(ImmutableArray<PhysicalDevice> devices)
    {
        foreach (var d in devices)
        {
            yield return new Measurement<int>(d.Health == DeviceHealth.Healthy ? 1 : 0,
                new KeyValuePair<string, object?>("gpu", d.Id));
        }
    }
}
