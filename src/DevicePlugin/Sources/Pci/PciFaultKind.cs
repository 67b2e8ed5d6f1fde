using DevicePlugin.Health;

namespace DevicePlugin.Sources.Pci;

/// <summary>The pci source's faults as <c>device_plugin_device_faults_total</c> names their <c>kind</c>.</summary>
internal static class PciFaultKind
{
    public const string Removed = DeviceFaultKind.Unplugged;
    public const string DriverUnbound = DeviceFaultKind.DriverUnbound;

    /// <summary>A rebind to another driver: the driver the device was accepted with is unbound.</summary>
    public const string DriverChanged = DeviceFaultKind.DriverUnbound;
    public const string AerFatal = DeviceFaultKind.AerFatal;
    public const string DeviceNodeMissing = DeviceFaultKind.NodeMissing;
}
