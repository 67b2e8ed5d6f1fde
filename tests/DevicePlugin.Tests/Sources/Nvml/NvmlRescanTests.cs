using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>
/// GPUs added to and removed from the stand-in while the source runs (events-file lines <c>addgpu</c>,
/// <c>removegpu</c>); the manual clock decides when the health thread checks the GPU set again.
/// </summary>
public sealed class NvmlRescanTests
{
    private static readonly TimeSpan RecoverAfter = TimeSpan.FromMinutes(5);

    private static bool IsUnhealthy(ResourceSnapshot s, int gpu) => Device(s, Uuid(gpu)).Health == DeviceHealth.Unhealthy;

    private static string AddGpu(int i) =>
        $"addgpu uuid={Uuid(i)} name=\"NVIDIA H100 80GB HBM3\" minor={i} pci={NvmlBusIdOf(i)} numa=0 cc=9.0";

    /// <summary>Appends the lines, waits until the stand-in applied them, then moves the clock past a check.</summary>
    private static void ChangeAndRescan(NvmlHarness h, TimeSpan advance, params string[] lines)
    {
        var consumed = h.Fake.EventsConsumed();
        foreach (var line in lines)
        {
            h.Fake.Inject(line);
        }

        h.Fake.WaitForEventsConsumed(consumed + lines.Length, WaitLimit);
        h.Time.Advance(advance);
    }

    [Fact]
    public async Task A_gpu_added_while_running_is_advertised_with_its_topology_and_watched_for_events()
    {
        await using var h = Create(Gpus(2) + "topology 0 1 20\n");
        var first = await h.StartAsync();
        Assert.Equal([Uuid(0), Uuid(1)], Ids(first));

        ChangeAndRescan(h, h.Options.RescanInterval, AddGpu(2), "nvlink 1 2 6", "topology 1 2 10");
        var after = await h.WaitForAsync(s => s.Devices.Length == 3);

        Assert.Equal([Uuid(0), Uuid(1), Uuid(2)], Ids(after));
        Assert.Equal(3, after.Topology.Count);
        Assert.Equal(6, after.Topology.NvLinks(1, 2));
        Assert.Equal(6, after.Topology.NvLinks(2, 1));
        Assert.Equal(0, after.Topology.NvLinks(0, 2));
        Assert.Equal(InterconnectLevel.SingleSwitch, after.Topology.Level(1, 2));
        Assert.Equal(InterconnectLevel.MultipleSwitches, after.Topology.Level(0, 1));
        Assert.Equal(InterconnectLevel.CrossSocket, after.Topology.Level(0, 2));
        Assert.Equal("/dev/nvidia2", Assert.Single(Device(after, Uuid(2)).DeviceNodes));
        Assert.Equal(PciAddressOf(2), Device(after, Uuid(2)).PciAddress);

        // The new GPU was registered for events like those found at start.
        h.Fake.Inject("xid 2 79");
        var faulted = await h.WaitForAsync(s => IsUnhealthy(s, 2));
        Assert.Contains("XID 79", Device(faulted, Uuid(2)).UnhealthyReason);
        Assert.False(IsUnhealthy(faulted, 0) || IsUnhealthy(faulted, 1), "an XID on the new GPU faulted another one");
    }

    [Fact]
    public async Task A_removed_gpu_disappears_and_the_others_keep_their_health_and_their_events()
    {
        await using var h = Create(Gpus(4) + "nvlink 0 3 4\n");
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.StartAsync();
        h.Fake.Inject("xid 3 79");
        await h.WaitForAsync(s => IsUnhealthy(s, 3));

        ChangeAndRescan(h, h.Options.RescanInterval, "removegpu 1");
        var after = await h.WaitForAsync(s => s.Devices.Length == 3);

        Assert.Equal([Uuid(0), Uuid(2), Uuid(3)], Ids(after));
        Assert.Equal(3, after.Topology.Count);
        Assert.Equal(4, after.Topology.NvLinks(0, 2)); // GPU 3 is third now
        Assert.True(IsUnhealthy(after, 3), "GPU 3 lost its fault in the rescan");
        Assert.Contains("XID 79", Device(after, Uuid(3)).UnhealthyReason);
        Assert.False(IsUnhealthy(after, 0) || IsUnhealthy(after, 2), "a GPU that stayed became unhealthy");

        // The event set was made afresh for the new set: events still arrive and name the right GPU.
        h.Fake.Inject("xid 0 48");
        var faulted = await h.WaitForAsync(s => IsUnhealthy(s, 0));
        Assert.False(IsUnhealthy(faulted, 2));

        // GPU 3's quiet period began before the rescan and ends on time; GPU 0's fault is newer.
        h.Time.Advance(RecoverAfter - h.Options.RescanInterval);
        var recovered = await h.WaitForAsync(s => !IsUnhealthy(s, 3));
        Assert.True(IsUnhealthy(recovered, 0));
        Assert.Equal(3, recovered.Devices.Length);
    }

    [Fact]
    public async Task A_lost_gpu_stays_listed_unhealthy_when_the_set_is_discovered_again()
    {
        await using var h = Create(Gpus(3));
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.StartAsync();
        h.Fake.Inject("lost 1");
        await h.WaitForAsync(s => IsUnhealthy(s, 1));

        ChangeAndRescan(h, h.Options.RescanInterval, AddGpu(3));
        var after = await h.WaitForAsync(s => s.Devices.Length == 4);

        Assert.Equal([Uuid(0), Uuid(1), Uuid(2), Uuid(3)], Ids(after));
        Assert.True(IsUnhealthy(after, 1));
        Assert.Contains("not answering", Device(after, Uuid(1)).UnhealthyReason);
        Assert.Equal(PciAddressOf(1), Device(after, Uuid(1)).PciAddress);
        Assert.Equal(1, h.Logs.CountContaining($"GPU {Uuid(1)} at {PciAddressOf(1)} could not be read again"));
    }

    [Fact]
    public async Task A_gpu_that_leaves_while_another_is_lost_stays_unhealthy_until_a_complete_enumeration_drops_it()
    {
        await using var h = Create(Gpus(3));
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.StartAsync();
        h.Fake.Inject("lost 1");
        await h.WaitForAsync(s => IsUnhealthy(s, 1));

        // The count shrank, but index 1 gives no UUID: GPU 2 may be the one that does not answer, so it stays.
        ChangeAndRescan(h, h.Options.RescanInterval, "removegpu 2");
        var uncertain = await h.WaitForAsync(s => IsUnhealthy(s, 2));
        Assert.Equal([Uuid(0), Uuid(1), Uuid(2)], Ids(uncertain));
        Assert.Contains("not answering", Device(uncertain, Uuid(2)).UnhealthyReason);

        // GPU 1 answers again: the next UUID check enumerates every index, and GPU 2 is not among them.
        ChangeAndRescan(h, h.Options.UuidCheckInterval, "found 1");
        var after = await h.WaitForAsync(s => s.Devices.Length == 2);
        Assert.Equal([Uuid(0), Uuid(1)], Ids(after));
    }

    [Fact]
    public async Task A_gpu_replaced_by_another_with_the_count_unchanged_is_found_by_the_uuid_check()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        ChangeAndRescan(h, h.Options.UuidCheckInterval, "removegpu 1",
            $"addgpu uuid=GPU-replacement minor=5 pci={NvmlBusIdOf(5)}");
        var after = await h.WaitForAsync(s => s.Devices.Length == 2 && s.Devices.Any(d => d.Id == "GPU-replacement"));

        Assert.Equal([Uuid(0), "GPU-replacement"], Ids(after));
        Assert.Equal("/dev/nvidia5", Assert.Single(Device(after, "GPU-replacement").DeviceNodes));
    }
}
