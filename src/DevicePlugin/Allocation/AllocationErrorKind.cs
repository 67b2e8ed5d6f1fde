namespace DevicePlugin.Allocation;

/// <summary>Why an allocation or a container start is refused. The kubelet-facing layer maps each kind to a gRPC status.</summary>
public enum AllocationErrorKind
{
    /// <summary>The request names no device (or no container).</summary>
    EmptyRequest,

    /// <summary>An ID longer than any device ID can be (<see cref="Inventory.ClientText.MaxDeviceIdLength"/>): refused before any lookup.</summary>
    InvalidDeviceId,

    /// <summary>An ID the resource does not advertise.</summary>
    UnknownDevice,

    /// <summary>A device of the resource that is unhealthy now.</summary>
    UnhealthyDevice,

    /// <summary>Two replicas of one physical device where the resource is configured with <c>distinctDevices</c>.</summary>
    SharedPhysicalDevice,
}
