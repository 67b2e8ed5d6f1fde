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
        if (CheckLength(id) is { } invalid)
        {
            advertised = default;
            return invalid;
        }

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

    /// <summary>
    /// Refuses, before any other work, every request naming an ID longer than a device ID can be; the refusal quotes
    /// only the ID's first characters.
    /// </summary>
    public static void CheckLengths(IReadOnlyList<string> ids)
    {
        // Indexed, not enumerated: this runs on every Allocate, and the request's list would box an enumerator.
        for (var i = 0; i < ids.Count; i++)
        {
            if (CheckLength(ids[i]) is { } invalid)
            {
                throw invalid;
            }
        }
    }

    private static AllocationException? CheckLength(string id) => id.Length <= ClientText.MaxDeviceIdLength
        ? null
        : new AllocationException(AllocationErrorKind.InvalidDeviceId,
            $"device ID {ClientText.Quote(id)} is {id.Length} characters long; a device ID has at most {ClientText.MaxDeviceIdLength}");
}
