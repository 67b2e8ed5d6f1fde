using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// The one check that a requested ID may be handed to a container: the resource advertises it and its device is
/// healthy. Used by Allocate and by PreStartContainer alike.
/// </summary>
public static class DeviceUsability
{
    /// <summary>Null when <paramref name="id"/> is usable (and <paramref name="advertised"/> set), else the refusal.</summary>
    public static AllocationException? Check(ResourceSnapshot snapshot, string id, out AdvertisedDevice advertised)
    {
        if (!snapshot.TryGet(id, out advertised))
        {
            return new AllocationException(AllocationErrorKind.UnknownDevice,
                $"device {id} is not a device of resource {snapshot.ResourceName}");
        }

        var device = snapshot.Devices[advertised.DeviceIndex];
        return device.Health == DeviceHealth.Healthy
            ? null
            : new AllocationException(AllocationErrorKind.UnhealthyDevice,
                $"device {id} of resource {snapshot.ResourceName} is unhealthy"
                + (device.UnhealthyReason is { } r ? $": {r}" : ""));
    }
}
