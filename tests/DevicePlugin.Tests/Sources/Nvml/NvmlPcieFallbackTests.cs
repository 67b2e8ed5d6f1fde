using DevicePlugin.Inventory;
using DevicePlugin.Tests.Sources.Pci;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>GPUs get their PCIe placement from sysfs (the pci source's helper), which orders them when NVML has no topology.</summary>
public sealed class NvmlPcieFallbackTests
{
    [Fact]
    public async Task Without_nvml_topology_the_sysfs_pcie_paths_rank_a_shared_switch_above_the_numa_node()
    {
        using var sysfs = new FakeSysfs();
        var root0 = sysfs.RootComplex("0000:00");
        var root1 = sysfs.RootComplex("0000:80");
        var switchUp = root0.Bridge("0000:00:02.0", numa: 0).Bridge("0000:10:00.0", numa: 0);
        switchUp.Bridge("0000:11:00.0", numa: 0).Function(NvmlHarness.PciAddressOf(0), 0x10de, 0x2330, 0x030200, "nvidia", numa: 0);
        switchUp.Bridge("0000:11:01.0", numa: 0).Function(NvmlHarness.PciAddressOf(1), 0x10de, 0x2330, 0x030200, "nvidia", numa: 0);
        root0.Bridge("0000:00:03.0", numa: 0).Function(NvmlHarness.PciAddressOf(2), 0x10de, 0x2330, 0x030200, "nvidia", numa: 0);
        root1.Bridge("0000:80:01.0", numa: 1).Function(NvmlHarness.PciAddressOf(3), 0x10de, 0x2330, 0x030200, "nvidia", numa: 1);

        // The stand-in without optional functions: no NUMA, no topology, no NVLink from NVML.
        await using var h = NvmlHarness.Create(NvmlHarness.Gpus(4), withOptionalFunctions: false, configure: o => o with { SysfsRoot = sysfs.SysRoot });
        var snapshot = await h.StartAsync();

        Assert.Equal([0, 0, 0, 1], snapshot.Devices.Select(d => d.NumaNode ?? -1));
        Assert.Equal(["pci0000:00", "0000:00:02.0", "0000:10:00.0", "0000:11:00.0"], snapshot.Devices[0].PciePath.ToArray());
        var t = snapshot.Topology;
        Assert.Equal(InterconnectLevel.SingleSwitch, t.Level(0, 1));
        Assert.Equal(InterconnectLevel.SameRootComplex, t.Level(0, 2));
        Assert.Equal(InterconnectLevel.CrossSocket, t.Level(0, 3));
    }
}
