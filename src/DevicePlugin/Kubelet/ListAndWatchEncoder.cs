using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>Turns a snapshot into the full device list the kubelet gets on ListAndWatch.</summary>
public static class ListAndWatchEncoder
{
    public const string Healthy = "Healthy";
    public const string Unhealthy = "Unhealthy";

    public static ListAndWatchResponse Encode(ResourceSnapshot snapshot)
    {
        var response = new ListAndWatchResponse();
        response.Devices.Capacity = snapshot.Advertised.Length;
        // One TopologyInfo per NUMA node, shared by every device on it (the message is only ever serialized).
        var byNode = new Dictionary<int, TopologyInfo>();
        var topologies = new TopologyInfo?[snapshot.Devices.Length];
        for (var i = 0; i < snapshot.Devices.Length; i++)
        {
            // Never a negative NUMA ID: unknown means no topology at all.
            if (snapshot.Devices[i].NumaNode is { } numa and >= 0)
            {
                if (!byNode.TryGetValue(numa, out var topology))
                {
                    byNode[numa] = topology = new TopologyInfo { Nodes = { new NUMANode { ID = numa } } };
                }

                topologies[i] = topology;
            }
        }

        foreach (var advertised in snapshot.Advertised)
        {
            var physical = snapshot.Devices[advertised.DeviceIndex];
            response.Devices.Add(new Device
            {
                ID = advertised.Id,
                Health = physical.Health == DeviceHealth.Healthy ? Healthy : Unhealthy,
                Topology = topologies[advertised.DeviceIndex],
            });
        }

        return response;
    }
}
