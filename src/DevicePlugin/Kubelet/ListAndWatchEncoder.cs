using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Turns a snapshot into the full device list the kubelet gets on ListAndWatch: every advertised ID (replicas
/// expanded) with its device's health ("Healthy" / "Unhealthy") and, where the NUMA node is known, the node in
/// <c>topology</c>. A negative node is never sent.
/// </summary>
public static class ListAndWatchEncoder
{
    public const string Healthy = "Healthy";
    public const string Unhealthy = "Unhealthy";

    public static ListAndWatchResponse Encode(ResourceSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var response = new ListAndWatchResponse();
        response.Devices.Capacity = snapshot.Advertised.Length;
        foreach (var advertised in snapshot.Advertised)
        {
            var physical = snapshot.Devices[advertised.DeviceIndex];
            var device = new Device
            {
                ID = advertised.Id,
                Health = physical.Health == DeviceHealth.Healthy ? Healthy : Unhealthy,
            };
            if (physical.NumaNode is { } node and >= 0)
            {
                device.Topology = new TopologyInfo { Nodes = { new NUMANode { ID = node } } };
            }

            response.Devices.Add(device);
        }

        return response;
    }
}
