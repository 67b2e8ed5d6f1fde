namespace DevicePlugin.Inventory;

/// <summary>
/// One ID the kubelet sees: a physical device, or one replica of it (<c>&lt;id&gt;::&lt;k&gt;</c>).
/// </summary>
/// <param name="Id">The advertised ID.</param>
/// <param name="DeviceIndex">Index of the physical device in <see cref="ResourceSnapshot.Devices"/>.</param>
/// <param name="Replica">Replica number, 0 when the resource has no replicas.</param>
public readonly record struct AdvertisedDevice(string Id, int DeviceIndex, int Replica);
