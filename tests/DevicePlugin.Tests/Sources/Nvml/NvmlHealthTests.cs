using DevicePlugin.Allocation;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Grpc.Core;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>Health events injected into the stand-in while the source runs; time driven by the manual clock.</summary>
public sealed class NvmlHealthTests
{
    private static readonly TimeSpan RecoverAfter = TimeSpan.FromMinutes(5);

    private static bool IsUnhealthy(ResourceSnapshot s, int gpu) => Device(s, Uuid(gpu)).Health == DeviceHealth.Unhealthy;

    private static bool IsHealthy(ResourceSnapshot s, int gpu) => Device(s, Uuid(gpu)).Health == DeviceHealth.Healthy;

    private static int[] UnhealthyIndices(ResourceSnapshot s) =>
        [.. Enumerable.Range(0, s.Devices.Length).Where(i => s.Devices[i].Health == DeviceHealth.Unhealthy)];

    [Fact]
    public async Task A_critical_xid_makes_exactly_that_gpu_and_its_replicas_unhealthy_within_one_second()
    {
        // The production poll interval: an event must not wait for it.
        await using var h = Create(Gpus(4), configure: o => o with { HealthPollInterval = TimeSpan.FromMilliseconds(500) });
        await h.StartAsync(replicas: 2);

        h.Fake.Inject("xid 1 79");
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1), TimeSpan.FromSeconds(1));

        Assert.Equal([1], UnhealthyIndices(after));
        Assert.Contains("XID 79", after.Devices[1].UnhealthyReason);
        foreach (var replica in (string[])[$"{Uuid(1)}::0", $"{Uuid(1)}::1"])
        {
            var refused = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(after, [replica]));
            Assert.Equal(StatusCode.FailedPrecondition, refused.Code);
        }

        Assert.Equal(Uuid(0), AllocateResponseBuilder.Build(after, [$"{Uuid(0)}::1"]).Envs["NVIDIA_VISIBLE_DEVICES"]);
    }

    [Fact]
    public async Task Ignored_xids_change_nothing()
    {
        await using var h = Create(Gpus(3));
        h.Health = new HealthConfig { IgnoredXids = [13, 43, 79] };
        await h.StartAsync();

        h.Fake.Inject("xid 0 13");
        h.Fake.Inject("xid 0 79");
        h.Fake.Inject("xid 2 43");
        h.Fake.Inject("xid 1 48"); // not ignored: the marker that the three before it were handled
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1));

        Assert.Equal([1], UnhealthyIndices(after));
        Assert.Equal(3, h.Logs.CountContaining("ignored (health.ignoredXids)"));
    }

    [Fact]
    public async Task Single_bit_ecc_changes_nothing_and_double_bit_ecc_makes_the_gpu_unhealthy()
    {
        // The stand-in delivers even event types nobody registered for, as a driver might.
        await using var h = Create(Gpus(2) + "deliver_unregistered 1\n");
        await h.StartAsync();

        h.Fake.Inject("sbe 0");
        h.Fake.Inject("sbe 1");
        h.Fake.Inject("dbe 1");
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1));

        Assert.Equal([1], UnhealthyIndices(after));
        Assert.Contains("double-bit ECC", after.Devices[1].UnhealthyReason);
    }

    [Fact]
    public async Task Events_are_registered_masked_by_what_each_gpu_supports()
    {
        // GPU 0 supports XIDs only: registering for double-bit ECC too would be refused.
        await using var h = Create(Gpus(2).Replace($"uuid={Uuid(0)} ", $"uuid={Uuid(0)} events=0x8 "));
        await h.StartAsync();

        h.Fake.Inject("xid 0 79");
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 0));

        Assert.Equal([0], UnhealthyIndices(after));
        Assert.Equal(0, h.Logs.CountContaining("is not monitored"));
    }

    [Fact]
    public async Task A_gpu_that_refuses_registration_is_logged_and_left_unmonitored_and_the_others_are_watched()
    {
        await using var h = Create(Gpus(2).Replace($"uuid={Uuid(0)} ", $"uuid={Uuid(0)} register=notsupported "));
        await h.StartAsync();

        h.Fake.Inject("xid 0 79"); // not delivered: GPU 0 is not registered
        h.Fake.Inject("xid 1 79");
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1));

        Assert.Equal([1], UnhealthyIndices(after));
        Assert.Equal(1, h.Logs.CountContaining($"GPU {Uuid(0)} is not monitored for XID/ECC events: nvmlDeviceRegisterEvents answered NOT_SUPPORTED"));
    }

    [Fact]
    public async Task A_gpu_recovers_after_the_quiet_period_and_a_new_fault_restarts_it()
    {
        await using var h = Create(Gpus(3));
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.StartAsync();

        h.Fake.Inject("xid 0 79");
        await h.WaitForAsync(s => IsUnhealthy(s, 0));

        h.Time.Advance(TimeSpan.FromMinutes(4));
        h.Fake.Inject("xid 1 94");
        var mid = await h.WaitForAsync(s => IsUnhealthy(s, 1));
        Assert.True(IsUnhealthy(mid, 0), "GPU 0 recovered before its quiet period ended");

        h.Time.Advance(TimeSpan.FromMinutes(1));
        var recovered = await h.WaitForAsync(s => IsHealthy(s, 0));
        Assert.Equal([1], UnhealthyIndices(recovered));
        Assert.Null(recovered.Devices[0].UnhealthyReason);

        h.Time.Advance(TimeSpan.FromMinutes(4));
        var all = await h.WaitForAsync(s => UnhealthyIndices(s).Length == 0);
        Assert.Equal(3, all.Devices.Length);
    }

    [Fact]
    public async Task With_recover_after_zero_a_gpu_never_recovers()
    {
        await using var h = Create(Gpus(2));
        h.Health = new HealthConfig { RecoverAfter = TimeSpan.Zero };
        await h.StartAsync();

        h.Fake.Inject("xid 0 79");
        await h.WaitForAsync(s => IsUnhealthy(s, 0));
        h.Time.Advance(TimeSpan.FromDays(365));
        h.Fake.Inject("xid 1 79");
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1));

        Assert.Equal([0, 1], UnhealthyIndices(after));
    }

    [Fact]
    public async Task A_lost_gpu_stays_listed_unhealthy_while_it_does_not_answer_and_recovers_after_it_answers_again()
    {
        await using var h = Create(Gpus(4));
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.StartAsync();

        h.Fake.Inject("lost 2");
        var lost = await h.WaitForAsync(s => IsUnhealthy(s, 2));
        Assert.Equal([2], UnhealthyIndices(lost));
        Assert.Equal(4, lost.Devices.Length);
        Assert.Contains("not answering", lost.Devices[2].UnhealthyReason);

        // Still lost long after: the condition holds, so no quiet period runs.
        h.Time.Advance(TimeSpan.FromMinutes(10));
        h.Fake.Inject("xid 0 79");
        var later = await h.WaitForAsync(s => IsUnhealthy(s, 0));
        Assert.True(IsUnhealthy(later, 2), "a GPU that still does not answer recovered");

        h.Fake.Inject("found 2");
        h.Fake.WaitForEventsConsumed(3, WaitLimit);
        h.Time.Advance(RecoverAfter);
        var recovered = await h.WaitForAsync(s => IsHealthy(s, 2) && IsHealthy(s, 0));
        Assert.Empty(UnhealthyIndices(recovered));
    }

    [Fact]
    public async Task An_event_wait_error_makes_every_gpu_unhealthy()
    {
        await using var h = Create(Gpus(3));
        await h.StartAsync();

        h.Fake.Inject("waiterror 999");
        var after = await h.WaitForAsync(s => UnhealthyIndices(s).Length == 3);

        Assert.All(after.Devices, d => Assert.Contains("NVML event wait failed: UNKNOWN", d.UnhealthyReason));
    }

    [Fact]
    public async Task A_lost_gpu_that_nvml_cannot_name_makes_every_gpu_unhealthy()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        h.Fake.Inject("waiterror 15"); // GPU_IS_LOST, yet every GPU answers the probe
        var after = await h.WaitForAsync(s => UnhealthyIndices(s).Length == 2);

        Assert.All(after.Devices, d => Assert.Contains("every GPU still answers", d.UnhealthyReason));
    }

    [Fact]
    public async Task A_health_config_change_applies_to_later_events()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        h.Health = new HealthConfig { IgnoredXids = [79] };
        await h.ApplyAsync();
        h.Fake.Inject("xid 0 79");
        h.Fake.Inject("xid 1 13"); // no longer ignored
        var after = await h.WaitForAsync(s => IsUnhealthy(s, 1));

        Assert.Equal([1], UnhealthyIndices(after));
    }

    [Fact]
    public async Task Faults_are_reported_by_gpu_kind_and_code_before_the_snapshot_that_shows_them()
    {
        await using var h = Create("""
            gpu uuid=GPU-a minor=0 pci=00000000:18:00.0
            gpu uuid=GPU-b minor=1 pci=00000000:28:00.0
            """);
        await h.StartAsync();
        h.Fake.Inject("xid 0 13");
        h.Fake.Inject("xid 0 79");
        h.Fake.Inject("xid 0 79");
        h.Fake.Inject("dbe 1");
        var after = await h.WaitForAsync(s => Device(s, "GPU-a").Health == DeviceHealth.Unhealthy && Device(s, "GPU-b").Health == DeviceHealth.Unhealthy);

        // Every fault was recorded before the snapshot that shows both GPUs unhealthy was published.
        var faults = h.Sink.Faults.Where(f => f.Counted).ToArray();
        Assert.Equal(2, faults.Count(f => f == new DeviceFault("GPU-a", "xid", "79")));
        Assert.Equal(1, faults.Count(f => f == new DeviceFault("GPU-a", "xid", "13")));
        Assert.Equal(1, faults.Count(f => f == new DeviceFault("GPU-b", "dbe")));
        Assert.DoesNotContain(faults, f => f.Device == "GPU-b" && f.Kind == "xid");
        Assert.All(faults, f => Assert.Null(f.Resource));
    }

    [Fact]
    public async Task A_lost_gpu_is_one_lost_fault_however_long_it_stays_lost()
    {
        await using var h = Create(NvmlHarness.Gpus(2));
        await h.StartAsync();
        h.Fake.Inject("lost 1");
        await h.WaitForAsync(s => s.Devices[1].Health == DeviceHealth.Unhealthy);
        h.Fake.Inject("xid 0 79"); // a further wake-up probes the lost GPU again
        await h.WaitForAsync(s => s.Devices[0].Health == DeviceHealth.Unhealthy);

        Assert.Equal([new DeviceFault(Uuid(1), "lost")], h.Sink.Faults.Where(f => f.Kind == "lost" && f.Counted));
    }
}
