using DevicePlugin.Api.V1Beta1;

namespace DevicePlugin.KubeletEmulator;

/// <summary>One ListAndWatch message as the emulated kubelet received it.</summary>
public sealed record RecordedList(DateTimeOffset ReceivedAt, IReadOnlyList<Device> Devices)
{
    /// <summary>The device with ID <paramref name="id"/>, or null.</summary>
    public Device? Find(string id) => Devices.FirstOrDefault(d => d.ID == id);

    /// <summary>The kubelet's reading: anything but exactly "Healthy" is unhealthy.</summary>
    public bool IsHealthy(string id) => Find(id)?.Health == "Healthy";

    /// <summary>How many devices are exactly "Healthy" (the kubelet's allocatable count).</summary>
    public int HealthyCount => Devices.Count(d => d.Health == "Healthy");
}
