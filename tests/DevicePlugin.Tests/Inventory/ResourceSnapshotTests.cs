using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Inventory;

public sealed class ResourceSnapshotTests
{
    private static ResourceSnapshot Snapshot(int replicas = 1, string health1 = "Healthy", int? numa0 = 0) => new(
        "vendor.com/fpga-x",
        PciSchema.Kind,
        [
            new PhysicalDevice { Id = "0000:3b:00.0", NumaNode = numa0 },
            new PhysicalDevice { Id = "0000:af:00.0", NumaNode = 1, Health = health1 == "Healthy" ? DeviceHealth.Healthy : DeviceHealth.Unhealthy },
        ],
        replicas: replicas);

    [Fact]
    public void Replicas_expand_to_id_colon_colon_k_in_device_order()
    {
        var s = Snapshot(replicas: 3);
        Assert.Equal(
            ["0000:3b:00.0::0", "0000:3b:00.0::1", "0000:3b:00.0::2", "0000:af:00.0::0", "0000:af:00.0::1", "0000:af:00.0::2"],
            s.Advertised.Select(a => a.Id));
        Assert.True(s.TryGet("0000:af:00.0::2", out var a));
        Assert.Equal((1, 2), (a.DeviceIndex, a.Replica));
        Assert.False(s.TryGet("0000:af:00.0", out _));
        Assert.True(Snapshot().TryGet("0000:af:00.0", out _));
    }

    [Theory]
    [InlineData("nvml", "nvidia.com/gpu", "NVIDIA_VISIBLE_DEVICES")]
    [InlineData("simulated", "a.com/b", "SIMULATED_DEVICES")]
    [InlineData("pci", "xilinx.com/fpga-u280.v2", "PCI_RESOURCE_XILINX_COM_FPGA_U280_V2")]
    public void The_environment_variable_follows_the_source(string source, string name, string variable) =>
        // Each source names the variable in its devices' edits; nothing in the middle chooses it by kind.
        Assert.Equal(variable, source switch
        {
            "nvml" => DevicePlugin.Sources.Nvml.NvmlGpu.VisibleDevicesVariable,
            "simulated" => DevicePlugin.Sources.Simulated.SimulatedSource.EnvironmentVariable,
            _ => DevicePlugin.Sources.Pci.PciEnvironment.VariableFor(name),
        });

    [Fact]
    public void The_kubelet_sees_a_change_only_when_ids_health_or_numa_change()
    {
        var a = Snapshot();
        Assert.True(a.SameDeviceListAs(Snapshot()));
        Assert.False(a.SameDeviceListAs(Snapshot(health1: "Unhealthy")));
        Assert.False(a.SameDeviceListAs(Snapshot(numa0: null)));
        Assert.False(a.SameDeviceListAs(Snapshot(replicas: 2)));
    }

    [Fact]
    public void The_feed_wakes_waiters_on_update_only()
    {
        var first = Snapshot();
        var feed = new SnapshotFeed(first);
        var waiting = feed.WaitForChangeAsync(first, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        var second = Snapshot(health1: "Unhealthy");
        feed.Update(second);
        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Same(second, feed.Current);
        Assert.True(feed.WaitForChangeAsync(first, CancellationToken.None).IsCompleted, "a stale snapshot returns at once");
    }

    [Fact]
    public void The_feed_encodes_the_current_list_once_for_every_stream()
    {
        var first = Snapshot(replicas: 2);
        var feed = new SnapshotFeed(first);
        var list = feed.ListFor(first);
        Assert.Same(list, feed.ListFor(first));
        Assert.Equal(4, list.Devices.Count);

        var second = Snapshot(health1: "Unhealthy");
        feed.Update(second);
        Assert.Equal("Unhealthy", feed.ListFor(second).Devices[1].Health);
        Assert.Equal(4, feed.ListFor(first).Devices.Count); // an older snapshot is still encoded correctly
    }

    [Fact]
    public void Inventory_state_merges_sources_and_an_empty_publish_withdraws_a_source()
    {
        var state = InventoryState.Empty
            .With(PciSchema.Kind, [Snapshot()])
            .With(SimulatedSchema.Kind, [new ResourceSnapshot("a.com/sim", SimulatedSchema.Kind, [new PhysicalDevice { Id = "s" }])]);
        Assert.Equal(["a.com/sim", "vendor.com/fpga-x"], state.Resources.Keys);
        Assert.Equal(["a.com/sim"], state.With(PciSchema.Kind, []).Resources.Keys);
    }
}
