namespace DevicePlugin.Inventory;

/// <summary>Health of a physical device as the kubelet sees it ("Healthy" / "Unhealthy" on the wire).</summary>
public enum DeviceHealth
{
    Healthy,
    Unhealthy,
}
