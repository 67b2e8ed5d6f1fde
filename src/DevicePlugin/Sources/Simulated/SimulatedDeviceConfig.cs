using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Simulated;

/// <summary>A device of a <c>simulated</c> resource.</summary>
public sealed record SimulatedDeviceConfig
{
    public required string Id { get; init; }

    public int? Numa { get; init; }

    public DeviceHealth Health { get; init; } = DeviceHealth.Healthy;
}
