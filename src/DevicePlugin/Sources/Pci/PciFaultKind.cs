namespace DevicePlugin.Sources.Pci;

/// <summary>The <c>reason</c> label values of <c>device_plugin_pci_health_faults_total</c>.</summary>
internal static class PciFaultKind
{
    public const string Removed = "device_removed";
    public const string DriverUnbound = "driver_unbound";
    public const string DriverChanged = "driver_changed";
    public const string AerFatal = "aer_fatal";
    public const string DeviceNodeMissing = "device_node_missing";
}
