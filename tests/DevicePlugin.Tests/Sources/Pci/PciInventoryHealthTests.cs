using System.Collections.Concurrent;
using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using static DevicePlugin.Tests.Sources.Pci.PciReferenceNode;
using static DevicePlugin.Tests.Sources.Pci.PciTestConfig;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>Health causes, recovery and re-matching, driven poll by poll with a manual clock.</summary>
public sealed class PciInventoryHealthTests : IDisposable
{
    private const string Amd = PciDefaults.AmdGpu;

    private readonly PciReferenceNode _node = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _node.Dispose();

    private PhysicalDevice Device(PciInventory inventory, string id, string resource = Amd) =>
        inventory.Snapshots.FindDevice(resource, id) ?? throw new Xunit.Sdk.XunitException($"{id} not in {resource}");

    private void AssertHealthy(PciInventory inventory, string id, string resource = Amd)
    {
        var device = Device(inventory, id, resource);
        Assert.True(device.Health == DeviceHealth.Healthy, $"{id} is {device.Health}: {device.UnhealthyReason}");
    }

    private void AssertUnhealthy(PciInventory inventory, string id, string reasonPart, string resource = Amd)
    {
        var device = Device(inventory, id, resource);
        Assert.Equal(DeviceHealth.Unhealthy, device.Health);
        Assert.Contains(reasonPart, device.UnhealthyReason);
    }

    /// <summary>Healthy again only once the quiet period has passed since the cause went away.</summary>
    private void AssertRecoversAfterQuietPeriod(PciInventory inventory, string id)
    {
        inventory.Poll();
        AssertUnhealthy(inventory, id, "(recovering)");
        _time.Advance(RecoverAfter - TimeSpan.FromSeconds(1));
        inventory.Poll();
        AssertUnhealthy(inventory, id, "(recovering)");
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(inventory.Poll());
        AssertHealthy(inventory, id);
    }

    [Fact]
    public void NothingChangedMeansNothingToPublish()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        Assert.False(inventory.Poll());
        Assert.False(inventory.Poll());
        _node.GpuBNode.AerFatal(0);
        Assert.False(inventory.Poll());
    }

    [Fact]
    public void HotUnplugKeepsTheDeviceListedUnhealthyAndReplugRecovers()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.GpuANode.Unplug();
        Assert.True(inventory.Poll());
        AssertUnhealthy(inventory, GpuA, "removed from the PCI bus");
        AssertHealthy(inventory, GpuB);
        Assert.Equal(4, inventory.Snapshots.Resource(Amd).Devices.Length);

        _time.Advance(RecoverAfter * 2);
        inventory.Poll();
        AssertUnhealthy(inventory, GpuA, "removed from the PCI bus");

        _node.GpuANode.Replug();
        AssertRecoversAfterQuietPeriod(inventory, GpuA);
        Assert.Equal(["/dev/dri/card1", "/dev/dri/renderD128"], Device(inventory, GpuA).DeviceNodes.ToArray());
    }

    [Fact]
    public void UnboundDriverIsUnhealthyUntilRebound()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.GpuBNode.BindDriver(null);
        Assert.True(inventory.Poll());
        AssertUnhealthy(inventory, GpuB, "driver amdgpu unbound");
        AssertHealthy(inventory, GpuA);

        _node.GpuBNode.BindDriver("amdgpu");
        AssertRecoversAfterQuietPeriod(inventory, GpuB);
    }

    [Fact]
    public void DriverChangedToOneNoResourceWantsIsUnhealthyWhileItLasts()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.GpuCNode.BindDriver("radeon");
        Assert.True(inventory.Poll());
        AssertUnhealthy(inventory, GpuC, "driver changed from amdgpu to radeon");
        _time.Advance(RecoverAfter * 2);
        inventory.Poll();
        AssertUnhealthy(inventory, GpuC, "driver changed from amdgpu to radeon");

        _node.GpuCNode.BindDriver("amdgpu");
        AssertRecoversAfterQuietPeriod(inventory, GpuC);
    }

    [Fact]
    public void RebindToADriverAnotherResourceWantsMovesTheDevice()
    {
        var resources = PciDefaults.Resources.Add(
            Resource("example.com/vfio-gpu", new PciMatch { Vendor = 0x1002, Driver = "vfio-pci" }));
        var inventory = Scanned(_node.Sys, _time, resources);
        _node.Sys.DeviceNode("vfio/10");

        _node.GpuANode.BindDriver("vfio-pci");
        Assert.True(inventory.Poll());

        Assert.Null(inventory.Snapshots.FindDevice(Amd, GpuA));
        var moved = Device(inventory, GpuA, "example.com/vfio-gpu");
        Assert.Equal(["/dev/dri/card1", "/dev/dri/renderD128", "/dev/vfio/vfio", "/dev/vfio/10"], moved.DeviceNodes.ToArray());
        Assert.Equal(DeviceHealth.Unhealthy, moved.Health);
        Assert.Contains("driver changed from amdgpu to vfio-pci", moved.UnhealthyReason);
        _time.Advance(RecoverAfter);
        inventory.Poll();
        AssertHealthy(inventory, GpuA, "example.com/vfio-gpu");
    }

    [Fact]
    public void RisingFatalAerCountIsAnEventThatPassesAfterTheQuietPeriod()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.GpuRemoteNode.AerFatal(2);
        Assert.True(inventory.Poll());
        AssertUnhealthy(inventory, GpuRemote, "fatal AER errors rose from 0 to 2");

        _time.Advance(RecoverAfter - TimeSpan.FromSeconds(1));
        inventory.Poll();
        AssertUnhealthy(inventory, GpuRemote, "fatal AER errors rose from 0 to 2 (recovering)");
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(inventory.Poll());
        AssertHealthy(inventory, GpuRemote);

        // The count that stays at 2 is no new fault.
        Assert.False(inventory.Poll());
        _node.GpuRemoteNode.AerFatal(3);
        inventory.Poll();
        AssertUnhealthy(inventory, GpuRemote, "fatal AER errors rose from 2 to 3");
    }

    [Fact]
    public void MissingDeviceNodeUnderDevRootIsUnhealthyUntilItIsBack()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.Sys.RemoveDeviceNode("dri/renderD129");
        Assert.True(inventory.Poll());
        AssertUnhealthy(inventory, GpuB, $"device node /dev/dri/renderD129 missing under {_node.Sys.DevRoot}");
        AssertHealthy(inventory, GpuA);

        _node.Sys.DeviceNode("dri/renderD129");
        AssertRecoversAfterQuietPeriod(inventory, GpuB);
    }

    [Fact]
    public void MissingSharedNodeMakesEveryDeviceOfTheResourceUnhealthy()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.Sys.RemoveDeviceNode("kfd");
        Assert.True(inventory.Poll());

        Assert.All(inventory.Snapshots.Resource(Amd).Devices, d =>
        {
            Assert.Equal(DeviceHealth.Unhealthy, d.Health);
            Assert.Contains("shared device node /dev/kfd missing", d.UnhealthyReason);
        });
        AssertHealthy(inventory, IntelFpga, PciDefaults.IntelFpga);
    }

    [Fact]
    public void DevicesMissingAtStartAreUnhealthyFromTheFirstSnapshot()
    {
        _node.Sys.RemoveDeviceNode("dfl-port.0");

        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        AssertUnhealthy(inventory, IntelFpga, "device node /dev/dfl-port.0 missing", PciDefaults.IntelFpga);
    }

    [Fact]
    public void ZeroRecoverAfterNeverRecovers()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources, recoverAfter: TimeSpan.Zero);

        _node.GpuANode.AerFatal(1);
        inventory.Poll();
        _time.Advance(TimeSpan.FromDays(30));
        inventory.Poll();

        AssertUnhealthy(inventory, GpuA, "fatal AER errors rose from 0 to 1");
    }

    [Fact]
    public void NewDeviceAppearsAtTheNextPollWhenTheListingChanges()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);

        _node.Sys.RootComplex("0000:80").Bridge("0000:80:04.0", numa: 1)
            .Function("0000:85:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1)
            .CharDevice("drm/renderD133", "dri/renderD133", 226, 133);
        Assert.True(inventory.Poll());

        var added = Device(inventory, "0000:85:00.0");
        Assert.Equal(DeviceHealth.Healthy, added.Health);
        Assert.Equal(["/dev/dri/renderD133"], added.DeviceNodes.ToArray());
        Assert.Equal(5, inventory.Snapshots.Resource(Amd).Devices.Length);
    }

    [Fact]
    public void DeviceThatStartsMatchingWithoutAListingChangeIsFoundAtTheRescanInterval()
    {
        var resources = ImmutableArray.Create(
            Resource("example.com/vfio-nic", new PciMatch { Vendor = 0x8086, Device = 0x1572, Driver = "vfio-pci" }));
        var inventory = Scanned(_node.Sys, _time, resources);
        Assert.Empty(inventory.Snapshots.Resource("example.com/vfio-nic").Devices);

        _node.NicNode.BindDriver("vfio-pci");
        _time.Advance(new PciSourceOptions().RescanInterval - TimeSpan.FromSeconds(1));
        Assert.False(inventory.Poll());

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(inventory.Poll());
        Assert.Equal([Nic], inventory.Snapshots.Resource("example.com/vfio-nic").Devices.Select(d => d.Id));
    }

    [Fact]
    public void ConfigurationChangeMatchesKnownDevicesAgain()
    {
        var inventory = Scanned(_node.Sys, _time, PciDefaults.Resources);
        var resources = ImmutableArray.Create(Resource("example.com/mi210", new PciMatch { Vendor = 0x1002, Device = 0x740f }));

        inventory.Configure(resources, Config(resources));
        inventory.Rescan();

        Assert.Equal(["example.com/mi210"], inventory.Snapshots.Select(s => s.ResourceName));
        Assert.Equal([GpuA, GpuB, GpuRemote], inventory.Snapshots.Resource("example.com/mi210").Devices.Select(d => d.Id));
    }

    [Fact]
    public void FaultsAreReportedWithResourceDeviceAndKind()
    {
        var resource = "metrics.test/gpu";
        var resources = ImmutableArray.Create(Resource(resource, new PciMatch { Vendor = 0x1002, Driver = "amdgpu" }));
        var seen = new ConcurrentQueue<DeviceFault>();
        var inventory = new PciInventory(Options(_node.Sys), _time,
            NullLogger.Instance, seen.Enqueue);
        inventory.Configure(resources, Config(resources));
        inventory.Rescan();

        _node.GpuANode.Unplug();
        _node.GpuBNode.BindDriver(null);
        _node.GpuCNode.AerFatal(4);
        _node.Sys.RemoveDeviceNode("dri/renderD132");
        inventory.Poll();
        inventory.Poll();

        Assert.Equal(
            [
                new DeviceFault(GpuA, "unplugged", Resource: resource),
                new DeviceFault(GpuB, "driver_unbound", Resource: resource),
                new DeviceFault(GpuC, "aer_fatal", Resource: resource),
                new DeviceFault(GpuRemote, "node_missing", Resource: resource),
            ],
            seen.OrderBy(s => s.Device, StringComparer.Ordinal));
    }
}
