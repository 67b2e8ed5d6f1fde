using DevicePlugin.Inventory;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>The topology matrix built once at start from NVLinks and common ancestors.</summary>
public sealed class NvmlTopologyTests
{
    [Fact]
    public async Task Nvlinks_and_common_ancestors_fill_the_matrix()
    {
        await using var h = Create(Gpus(4) + """
            nvlink 0 1 4
            nvlink 2 3 2
            topology 0 1 10
            topology 0 2 30
            topology 1 2 40
            topology 2 3 0
            topology 1 3 20
            topology_default 50
            """);

        var t = (await h.StartAsync()).Topology;

        Assert.Equal(4, t.NvLinks(0, 1));
        Assert.Equal(4, t.NvLinks(1, 0));
        Assert.Equal(2, t.NvLinks(2, 3));
        Assert.Equal(0, t.NvLinks(0, 2));
        Assert.Equal(InterconnectLevel.SingleSwitch, t.Level(0, 1));
        Assert.Equal(InterconnectLevel.SameRootComplex, t.Level(0, 2));
        Assert.Equal(InterconnectLevel.SameNumaNode, t.Level(2, 1));
        Assert.Equal(InterconnectLevel.SingleSwitch, t.Level(2, 3));
        Assert.Equal(InterconnectLevel.MultipleSwitches, t.Level(3, 1));
        Assert.Equal(InterconnectLevel.CrossSocket, t.Level(0, 3));
        Assert.Equal(400 + 40, t.Score(0, 1));
    }

    [Fact]
    public async Task Links_past_the_first_eighteen_are_counted_on_drivers_with_36_links()
    {
        await using var h = Create(Gpus(2) + """
            nvlink_max_links 36
            nvlink 0 1 20
            """);

        var t = (await h.StartAsync()).Topology;

        Assert.Equal(20, t.NvLinks(0, 1));
        Assert.Equal(2 * 36, h.Fake.Calls("nvmlDeviceGetNvLinkState")); // NVML_NVLINK_MAX_LINKS links each
    }

    [Fact]
    public async Task Gpus_on_a_shared_nvswitch_are_linked_through_it_and_a_lone_switch_link_links_nothing()
    {
        await using var h = Create(Gpus(3) + """
            nvlink_switch 0 6 0
            nvlink_switch 1 4 0
            nvlink_switch 0 2 1
            nvlink_switch 1 2 1
            nvlink_switch 2 3 2
            """);

        var t = (await h.StartAsync()).Topology;

        Assert.Equal(4 + 2, t.NvLinks(0, 1));
        Assert.Equal(0, t.NvLinks(0, 2));
        Assert.Equal(0, t.NvLinks(1, 2));
    }
}
