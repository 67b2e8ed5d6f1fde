using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Kubelet;

public sealed class ListAndWatchEncoderTests
{
    [Fact]
    public void Encodes_ids_health_and_known_numa_nodes_only()
    {
        var snapshot = new ResourceSnapshot(
            "example.com/gpu",
            SimulatedSchema.Kind,
            [
                new PhysicalDevice { Id = "a", NumaNode = 1 },
                new PhysicalDevice { Id = "b", Health = DeviceHealth.Unhealthy, UnhealthyReason = "xid 79" },
                new PhysicalDevice { Id = "c", NumaNode = 0 },
            ]);
        var response = ListAndWatchEncoder.Encode(snapshot);

        Assert.Equal(["a", "b", "c"], response.Devices.Select(d => d.ID));
        Assert.Equal(["Healthy", "Unhealthy", "Healthy"], response.Devices.Select(d => d.Health));
        Assert.Equal([1L], response.Devices[0].Topology.Nodes.Select(n => n.ID));
        Assert.Null(response.Devices[1].Topology);
        Assert.Equal([0L], response.Devices[2].Topology.Nodes.Select(n => n.ID));
    }

    [Fact]
    public void Negative_numa_is_never_sent()
    {
        // The model says never negative; the encoder does not trust it.
        var snapshot = new ResourceSnapshot(
            "example.com/gpu", SimulatedSchema.Kind, [new PhysicalDevice { Id = "a", NumaNode = -1 }],
            TopologyMatrix.FromNumaNodes([null]));
        Assert.Null(ListAndWatchEncoder.Encode(snapshot).Devices[0].Topology);
    }

    [Fact]
    public void Replicas_are_expanded_with_their_device_health_and_round_trip_through_protobuf()
    {
        var snapshot = new ResourceSnapshot(
            "example.com/gpu",
            SimulatedSchema.Kind,
            [new PhysicalDevice { Id = "a", NumaNode = 3 }, new PhysicalDevice { Id = "b", Health = DeviceHealth.Unhealthy }],
            replicas: 2);
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(ListAndWatchEncoder.Encode(snapshot));
        var parsed = ListAndWatchResponse.Parser.ParseFrom(bytes);

        Assert.Equal(["a::0", "a::1", "b::0", "b::1"], parsed.Devices.Select(d => d.ID));
        Assert.Equal(["Healthy", "Healthy", "Unhealthy", "Unhealthy"], parsed.Devices.Select(d => d.Health));
        Assert.All(parsed.Devices.Take(2), d => Assert.Equal(3L, d.Topology.Nodes.Single().ID));
    }
}
