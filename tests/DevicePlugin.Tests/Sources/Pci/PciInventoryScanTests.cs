using System.Collections.Immutable;
using DevicePlugin.Allocation;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Tests.TestSupport;
using static DevicePlugin.Tests.Sources.Pci.PciReferenceNode;
using static DevicePlugin.Tests.Sources.Pci.PciTestConfig;

namespace DevicePlugin.Tests.Sources.Pci;

public sealed class PciInventoryScanTests : IDisposable
{
    private readonly PciReferenceNode _node = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _node.Dispose();

    [Fact]
    public void DefaultsFindTheAcceleratorsAndNothingElse()
    {
        var snapshots = Scanned(_node.Sys, _time, PciDefaults.Resources, isDefault: true).Snapshots;

        Assert.Equal(["amd.com/gpu", "xilinx.com/fpga-user", "intel.com/fpga"], snapshots.Select(s => s.ResourceName));
        var amd = snapshots.Resource("amd.com/gpu");
        Assert.Equal([GpuA, GpuB, GpuC, GpuRemote], amd.Devices.Select(d => d.Id));
        Assert.Equal([0, 0, 0, 1], amd.Devices.Select(d => d.NumaNode));
        Assert.All(amd.Devices, d => Assert.Equal(DeviceHealth.Healthy, d.Health));
        Assert.Equal(["/dev/dri/card1", "/dev/dri/renderD128"], amd.Devices[0].DeviceNodes.ToArray());
        Assert.Equal(["/dev/dri/card2", "/dev/dri/renderD129"], amd.Devices[1].DeviceNodes.ToArray());
        Assert.Equal(["/dev/dri/card3", "/dev/dri/renderD130"], amd.Devices[2].DeviceNodes.ToArray());
        Assert.Equal(["/dev/dri/card4", "/dev/dri/renderD132"], amd.Devices[3].DeviceNodes.ToArray());
        Assert.Equal(["/dev/kfd"], amd.SharedDeviceNodes.ToArray());
        Assert.All(amd.Devices, d => Assert.Equal([new("PCI_RESOURCE_AMD_COM_GPU", d.Id)], d.Environment.ToArray()));

        var xilinx = snapshots.Resource("xilinx.com/fpga-user");
        Assert.Equal([AlveoUser], xilinx.Devices.Select(d => d.Id));
        Assert.Equal(["/dev/dri/renderD131"], xilinx.Devices[0].DeviceNodes.ToArray());
        Assert.Equal(1, xilinx.Devices[0].NumaNode);

        var intel = snapshots.Resource("intel.com/fpga");
        Assert.Equal([IntelFpga], intel.Devices.Select(d => d.Id));
        Assert.Equal(["/dev/dfl-fme.0", "/dev/dfl-port.0"], intel.Devices[0].DeviceNodes.ToArray());
    }

    [Fact]
    public void DevicesCarryTheirIdsPathAndAttributes()
    {
        var gpu = Scanned(_node.Sys, _time, PciDefaults.Resources).Snapshots.Resource("amd.com/gpu").Devices[0];

        Assert.Equal(GpuA, gpu.PciAddress);
        Assert.Equal(["pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:02:00.0"], gpu.PciePath.ToArray());
        Assert.Equal("0x1002", gpu.Attributes["vendor"]);
        Assert.Equal("0x740f", gpu.Attributes["device"]);
        Assert.Equal("0x038000", gpu.Attributes["class"]);
        Assert.Equal("0x1234", gpu.Attributes["subsystemVendor"]);
        Assert.Equal("0x5678", gpu.Attributes["subsystemDevice"]);
        Assert.Equal("amdgpu", gpu.Attributes["driver"]);
        Assert.Equal("10", gpu.Attributes["iommuGroup"]);
        Assert.Equal("16.0 GT/s PCIe", gpu.Attributes["linkSpeed"]);
        Assert.Equal("16", gpu.Attributes["linkWidth"]);
    }

    [Fact]
    public void AllocateGivesEachDeviceNodeOnceAndTheAddressesInRequestOrder()
    {
        var amd = Scanned(_node.Sys, _time, PciDefaults.Resources).Snapshots.Resource("amd.com/gpu");

        var response = AllocateResponseBuilder.Build(amd, [GpuB, GpuA]);

        Assert.Equal("0000:04:00.0,0000:03:00.0", response.Envs["PCI_RESOURCE_AMD_COM_GPU"]);
        Assert.Single(response.Envs);
        Assert.Equal(
            ["/dev/dri/card2", "/dev/dri/renderD129", "/dev/dri/card1", "/dev/dri/renderD128", "/dev/kfd"],
            response.Devices.Select(d => d.HostPath));
        Assert.All(response.Devices, d =>
        {
            Assert.Equal(d.HostPath, d.ContainerPath);
            Assert.Equal("rw", d.Permissions);
        });
    }

    [Fact]
    public void VfioBoundDeviceGetsTheVfioNodesOfItsGroup()
    {
        var resources = ImmutableArray.Create(Resource("example.com/vfio-nic", new PciMatch { Vendor = 0x15b3, Driver = "vfio-pci" }));
        var nic = Scanned(_node.Sys, _time, resources).Snapshots.Resource("example.com/vfio-nic");

        Assert.Equal([VfioNic], nic.Devices.Select(d => d.Id));
        Assert.Equal(["/dev/vfio/vfio", "/dev/vfio/42"], nic.Devices[0].DeviceNodes.ToArray());
        Assert.Equal(DeviceHealth.Healthy, nic.Devices[0].Health);
        var response = AllocateResponseBuilder.Build(nic, [VfioNic]);
        Assert.Equal(VfioNic, response.Envs["PCI_RESOURCE_EXAMPLE_COM_VFIO_NIC"]);
        Assert.Equal(["/dev/vfio/vfio", "/dev/vfio/42"], response.Devices.Select(d => d.HostPath));
    }

    [Fact]
    public void ConfiguredSelectorsReachNestedCharDevicesButNotBlockDevices()
    {
        var resources = ImmutableArray.Create(
            Resource("xilinx.com/fpga-mgmt", new PciMatch { Vendor = 0x10ee, Driver = "xclmgmt" }),
            Resource("example.com/nvme", new PciMatch { Vendor = 0x144d, Class = 0x0108 }));
        var snapshots = Scanned(_node.Sys, _time, resources).Snapshots;

        var mgmt = snapshots.Resource("xilinx.com/fpga-mgmt");
        Assert.Equal([AlveoMgmt], mgmt.Devices.Select(d => d.Id));
        Assert.Equal(["/dev/xclmgmt33024"], mgmt.Devices[0].DeviceNodes.ToArray());
        var nvme = snapshots.Resource("example.com/nvme");
        Assert.Equal([Nvme], nvme.Devices.Select(d => d.Id));
        Assert.Equal(["/dev/nvme0"], nvme.Devices[0].DeviceNodes.ToArray());
    }

    [Fact]
    public void ABridgeDoesNotClaimTheDeviceNodesOfTheFunctionsBelowIt()
    {
        var resources = ImmutableArray.Create(
            Resource("example.com/bmc-bridge", new PciMatch { Vendor = 0x1a03, Class = 0x0604 }),
            Resource("example.com/bmc-vga", new PciMatch { Vendor = 0x1a03, Class = 0x0300 }));
        var snapshots = Scanned(_node.Sys, _time, resources).Snapshots;

        var bridge = snapshots.Resource("example.com/bmc-bridge").Devices.Single();
        Assert.Equal("0000:07:00.0", bridge.Id);
        Assert.Empty(bridge.DeviceNodes);
        var vga = snapshots.Resource("example.com/bmc-vga").Devices.Single();
        Assert.Equal(["pci0000:00", "0000:00:1c.0", "0000:07:00.0"], vga.PciePath.ToArray());
        Assert.Equal(["/dev/dri/card0"], vga.DeviceNodes.ToArray());
    }

    [Fact]
    public void FirstMatchingResourceWinsAndNoDeviceIsAdvertisedTwice()
    {
        var resources = ImmutableArray.Create(
            Resource("example.com/mi210", new PciMatch { Vendor = 0x1002, Device = 0x740f }),
            Resource("example.com/any-amd", new PciMatch { Vendor = 0x1002 }),
            Resource("example.com/display", new PciMatch { Vendor = 0x1002, Class = 0x0300 }, new PciMatch { Vendor = 0x1a03, Class = 0x0300 }));
        var snapshots = Scanned(_node.Sys, _time, resources).Snapshots;

        Assert.Equal([GpuA, GpuB, GpuRemote], snapshots.Resource("example.com/mi210").Devices.Select(d => d.Id));
        Assert.Equal([GpuC], snapshots.Resource("example.com/any-amd").Devices.Select(d => d.Id));
        Assert.Equal([BmcVga], snapshots.Resource("example.com/display").Devices.Select(d => d.Id));
        var all = snapshots.SelectMany(s => s.Devices.Select(d => d.Id)).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    [Fact]
    public void DefaultsWithoutMatchingDevicesPublishNothingButAConfiguredResourceIsPublishedEmpty()
    {
        using var sys = new FakeSysfs();
        sys.RootComplex("0000:00").Bridge("0000:00:02.0", numa: 0)
            .Function(Nic, 0x8086, 0x1572, 0x020000, "i40e", numa: 0);

        Assert.Empty(Scanned(sys, _time, PciDefaults.Resources, isDefault: true).Snapshots);
        var configured = Scanned(sys, _time, PciDefaults.Resources, isDefault: false).Snapshots;
        Assert.Equal(3, configured.Length);
        Assert.All(configured, s => Assert.Empty(s.Devices));
    }

    [Fact]
    public void ReplicasAdvertiseSharedIdsOfOneDevice()
    {
        var resources = ImmutableArray.Create(
            Resource("example.com/shared-fpga", new PciMatch { Vendor = 0x8086, Class = 0x1200 }) with { Replicas = 2 });
        var fpga = Scanned(_node.Sys, _time, resources).Snapshots.Resource("example.com/shared-fpga");

        Assert.Equal([IntelFpga + "::0", IntelFpga + "::1"], fpga.Advertised.Select(a => a.Id));
        var response = AllocateResponseBuilder.Build(fpga, [IntelFpga + "::1", IntelFpga + "::0"]);
        Assert.Equal(IntelFpga, response.Envs["PCI_RESOURCE_EXAMPLE_COM_SHARED_FPGA"]);
        Assert.Equal(["/dev/dfl-fme.0", "/dev/dfl-port.0"], response.Devices.Select(d => d.HostPath));
    }

    [Fact]
    public void TopologyComesFromThePciePaths()
    {
        var amd = Scanned(_node.Sys, _time, PciDefaults.Resources).Snapshots.Resource("amd.com/gpu");

        Assert.Equal(InterconnectLevel.SingleSwitch, amd.Topology.Level(0, 1));
        Assert.Equal(InterconnectLevel.SameRootComplex, amd.Topology.Level(0, 2));
        Assert.Equal(InterconnectLevel.CrossSocket, amd.Topology.Level(0, 3));
        Assert.Equal(InterconnectLevel.CrossSocket, amd.Topology.Level(3, 1));
        Assert.True(amd.Topology.Score(0, 1) > amd.Topology.Score(0, 2));
    }

    [Fact]
    public void UnreadableFilesAndOddEntriesSkipOnlyTheirDevice()
    {
        var port = _node.Sys.RootComplex("0000:c0").Bridge("0000:c0:01.0", numa: 1);
        port.Function("0000:c1:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1).ReplaceWithDirectory("vendor");
        port.Function("0000:c1:00.1", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1).ReplaceWithDanglingLink("class");
        port.Function("0000:c1:00.2", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1).ReplaceWithFifo("device");
        port.Function("0000:c1:00.3", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1).Write("vendor", "not hex\n");
        port.Function("0000:c1:00.4", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1)
            .CharDevice("drm/renderD140", "dri/renderD140", 226, 140)
            .CharDevice("drm/card9", "dri/card9", 226, 9)
            .ReplaceWithFifo("numa_node")
            .ReplaceWithDirectory("drm/card9/uevent".Replace('/', Path.DirectorySeparatorChar));
        File.WriteAllText(Path.Combine(_node.Sys.ListingDirectory, "0000:c1:00.5"), "a file, not a link");
        File.CreateSymbolicLink(Path.Combine(_node.Sys.ListingDirectory, "0000:c1:00.6"), "../../../../elsewhere/0000:c1:00.6");
        File.CreateSymbolicLink(Path.Combine(_node.Sys.ListingDirectory, "0000:c1:00.7"), "../../../devices/pci0000:c0/0000:c1:00.7");

        var amd = Scanned(_node.Sys, _time, PciDefaults.Resources).Snapshots.Resource("amd.com/gpu");

        Assert.Equal([GpuA, GpuB, GpuC, GpuRemote, "0000:c1:00.4"], amd.Devices.Select(d => d.Id));
        var survivor = amd.Devices[4];
        Assert.Equal(["/dev/dri/renderD140"], survivor.DeviceNodes.ToArray());
        Assert.Null(survivor.NumaNode);
    }
}
