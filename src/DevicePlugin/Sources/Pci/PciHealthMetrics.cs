using System.Diagnostics.Metrics;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// Metrics of the <c>pci</c> source on the <c>DevicePlugin</c> meter: one count per fault detected, labelled with
/// the resource, the device and a short reason (<see cref="PciFaultKind"/>).
/// </summary>
internal static class PciHealthMetrics
{
    // Exported as device_plugin_pci_health_faults_total (meter name + instrument name).
    public const string MeterName = Metrics.PluginMetrics.MeterName;
    public const string FaultsCounterName = "pci_health_faults_total";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Faults = Meter.CreateCounter<long>(
        FaultsCounterName, unit: null, description: "Health faults detected on PCI devices, by resource, device and reason.");

    public static void RecordFault(string resource, string device, string reason) =>
        Faults.Add(1,
            new KeyValuePair<string, object?>("resource", resource),
            new KeyValuePair<string, object?>("device", device),
            new KeyValuePair<string, object?>("reason", reason));
}
