using DevicePlugin.Allocation;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Grpc.Core;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;
using static DevicePlugin.Tests.Sources.Nvml.NvmlMigTests;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>Per-instance health of MIG devices and MIG reconfiguration, driven through the stand-in's events file.</summary>
public sealed class NvmlMigHealthTests
{
    private static readonly TimeSpan RecoverAfter = TimeSpan.FromMinutes(5);

    private static string[] Unhealthy(ResourceSnapshot s) => [.. s.Devices.Where(d => d.Health == DeviceHealth.Unhealthy).Select(d => d.Id)];

    private static async Task<NvmlHarness> StartSingleAsync(int replicas = 2)
    {
        var h = Create(TwoH100s);
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.ApplyAsync(Resource(mig: MigStrategy.Single, replicas: replicas));
        return h;
    }

    [Fact]
    public async Task An_xid_attributed_to_an_instance_makes_exactly_that_mig_device_and_its_replicas_unhealthy_then_it_recovers()
    {
        await using var h = await StartSingleAsync();

        h.Fake.Inject("xid 0 79 9 0"); // GPU 0, GPU instance 9, compute instance 0: the device in slot 3
        var after = await h.WaitForAsync(s => Unhealthy(s).Length > 0);

        Assert.Equal([Mig(0, 3)], Unhealthy(after));
        Assert.Contains("XID 79", Device(after, Mig(0, 3)).UnhealthyReason);
        foreach (var replica in (string[])[$"{Mig(0, 3)}::0", $"{Mig(0, 3)}::1"])
        {
            var refused = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(after, [replica]));
            Assert.Equal(StatusCode.FailedPrecondition, refused.Code);
        }

        Assert.Equal(Mig(0, 0), AllocateResponseBuilder.Build(after, [$"{Mig(0, 0)}::1"]).Envs["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal(1, h.Logs.CountContaining($"critical XID 79 on MIG device {Mig(0, 3)} of GPU GPU-a"));

        h.Time.Advance(RecoverAfter);
        var recovered = await h.WaitForAsync(s => Unhealthy(s).Length == 0);
        Assert.Equal(4, recovered.Devices.Length);
    }

    [Fact]
    public async Task An_attributed_double_bit_ecc_error_marks_only_its_instance()
    {
        await using var h = await StartSingleAsync();

        h.Fake.Inject("dbe 1 3 0");
        var after = await h.WaitForAsync(s => Unhealthy(s).Length > 0);

        Assert.Equal([Mig(1, 1)], Unhealthy(after));
        Assert.Contains("double-bit ECC", Device(after, Mig(1, 1)).UnhealthyReason);
    }

    [Theory]
    [InlineData("xid 1 79")]            // no instance ids
    [InlineData("xid 1 79 3 4294967295")] // only one of the two ids set
    [InlineData("xid 1 79 12 0")]       // an instance the GPU does not have
    public async Task An_xid_that_names_no_known_instance_makes_every_mig_device_of_that_gpu_unhealthy(string line)
    {
        await using var h = await StartSingleAsync();

        h.Fake.Inject(line);
        var after = await h.WaitForAsync(s => Unhealthy(s).Length > 0);

        Assert.Equal([Mig(1, 1), Mig(1, 4)], Unhealthy(after));
        Assert.All(Unhealthy(after), id => Assert.Contains("XID 79", Device(after, id).UnhealthyReason));
    }

    [Fact]
    public async Task An_ignored_xid_on_an_instance_changes_nothing()
    {
        await using var h = await StartSingleAsync();

        h.Fake.Inject("xid 0 13 9 0");
        h.Fake.Inject("xid 1 79 5 0"); // the marker that the one before was handled
        var after = await h.WaitForAsync(s => Unhealthy(s).Length > 0);

        Assert.Equal([Mig(1, 4)], Unhealthy(after));
        Assert.Equal(1, h.Logs.CountContaining($"XID 13 on MIG device {Mig(0, 3)} of GPU GPU-a ignored"));
    }

    [Fact]
    public async Task A_lost_gpu_takes_all_its_mig_devices_which_stay_listed_and_recover_after_it_answers_again()
    {
        await using var h = await StartSingleAsync(replicas: 1);

        h.Fake.Inject("lost 0");
        var lost = await h.WaitForAsync(s => Unhealthy(s).Length > 0);
        Assert.Equal([Mig(0, 0), Mig(0, 3)], Unhealthy(lost));
        Assert.Equal(4, lost.Devices.Length);
        Assert.All(Unhealthy(lost), id => Assert.Contains("not answering", Device(lost, id).UnhealthyReason));

        h.Fake.Inject("found 0");
        h.Fake.WaitForEventsConsumed(2, WaitLimit);
        h.Time.Advance(RecoverAfter);
        var recovered = await h.WaitForAsync(s => Unhealthy(s).Length == 0);
        Assert.Equal(4, recovered.Devices.Length);
    }

    [Fact]
    public async Task A_reconfiguration_event_adds_and_removes_profile_resources_without_waiting_for_the_periodic_check()
    {
        // The periodic checks are an hour away and the manual clock never moves: only the event can act.
        await using var h = Create(H200AndWhole, configure: o => o with
        {
            HealthPollInterval = TimeSpan.FromMilliseconds(500),
            RescanInterval = TimeSpan.FromHours(1),
            UuidCheckInterval = TimeSpan.FromHours(1),
        });
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));

        h.Fake.Inject("mig 0 1 h200-141gb:2g");
        h.Fake.Inject("migconfig 0");
        var added = await h.WaitForAllAsync(all => all.ContainsKey("nvidia.com/mig-2g.35gb"));
        Assert.Equal([Mig(0, 1)], Ids(added["nvidia.com/mig-2g.35gb"]));
        Assert.Equal(["nvidia.com/gpu", "nvidia.com/mig-1g.18gb", "nvidia.com/mig-2g.35gb", "nvidia.com/mig-3g.71gb"],
            added.Keys.Order(StringComparer.Ordinal));

        h.Fake.Inject("migremove 0 0");
        h.Fake.Inject("migremove 0 2");
        h.Fake.Inject("migconfig 0");
        var removed = await h.WaitForAllAsync(all => !all.ContainsKey("nvidia.com/mig-3g.71gb"));
        Assert.Equal(["nvidia.com/gpu", "nvidia.com/mig-1g.18gb", "nvidia.com/mig-2g.35gb"], removed.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([Mig(0, 5)], Ids(removed["nvidia.com/mig-1g.18gb"]));
        Assert.Equal(2, h.Logs.CountContaining("MIG configuration changed on GPU GPU-h200"));
    }

    [Fact]
    public async Task Without_the_event_the_periodic_check_notices_a_mig_device_gone_and_the_others_keep_their_health()
    {
        await using var h = Create(H200AndWhole);
        h.Health = new HealthConfig { RecoverAfter = RecoverAfter };
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));
        h.Fake.Inject("xid 0 79 3 0"); // slot 2's instance (gi 3)
        await h.WaitForAllAsync(all => all["nvidia.com/mig-1g.18gb"].Devices.Any(d => d.Health == DeviceHealth.Unhealthy));

        h.Fake.Inject("migremove 0 5");
        h.Fake.WaitForEventsConsumed(2, WaitLimit);
        h.Time.Advance(h.Options.UuidCheckInterval);
        var after = await h.WaitForAllAsync(all => all["nvidia.com/mig-1g.18gb"].Devices.Length == 1);

        var kept = Assert.Single(after["nvidia.com/mig-1g.18gb"].Devices);
        Assert.Equal((Mig(0, 2), DeviceHealth.Unhealthy), (kept.Id, kept.Health));
        Assert.Equal(1, h.Logs.CountContaining("the MIG devices of GPU GPU-h200 changed"));
    }
}
