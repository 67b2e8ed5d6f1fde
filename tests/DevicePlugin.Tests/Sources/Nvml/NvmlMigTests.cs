using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Allocation;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Nvml;
using Grpc.Core;
using DevicePlugin.Tests.TestSupport;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>MIG discovery, the three strategies and Allocate, on the stand-in library and a fake /proc.</summary>
public sealed class NvmlMigTests
{
    /// <summary>Parents' total memory as the driver reports it (MiB · 2²⁰).</summary>
    public const ulong A100Memory = 40960UL << 20;
    public const ulong H100Memory = 81559UL << 20;
    public const ulong H200Memory = 143771UL << 20;

    /// <summary>The stand-in's default UUID of the MIG device in <paramref name="slot"/> of GPU <paramref name="gpu"/>.</summary>
    public static string Mig(int gpu, int slot) => string.Create(CultureInfo.InvariantCulture, $"MIG-00000000-0000-0000-{gpu:D4}-{slot:D12}");

    /// <summary>An H200 in MIG mode (minor 0, NUMA 0): 3g in slot 0, 1g in slots 2 and 5; and a whole GPU (minor 1, NUMA 1).</summary>
    public const string H200AndWhole = """
        gpu uuid=GPU-h200 name="NVIDIA H200" memory=150754820096 minor=0 pci=00000000:18:00.0 numa=0 mig=1
        mig 0 0 h200-141gb:3g
        mig 0 2 h200-141gb:1g
        mig 0 5 h200-141gb:1g
        gpu uuid=GPU-whole name="NVIDIA H200" memory=150754820096 minor=1 pci=00000000:28:00.0 numa=1 mig=0
        """;

    /// <summary>Two H100s in MIG mode, each with two 1g.10gb devices (GPU 0: gi 7 and 9; GPU 1: gi 3 and 5).</summary>
    public const string TwoH100s = """
        gpu uuid=GPU-a name="NVIDIA H100 80GB HBM3" memory=85520809984 minor=0 pci=00000000:18:00.0 numa=0 mig=1
        gpu uuid=GPU-b name="NVIDIA H100 80GB HBM3" memory=85520809984 minor=1 pci=00000000:28:00.0 numa=0 mig=1
        mig 0 0 h100-80gb:1g gi=7 ci=0
        mig 0 3 h100-80gb:1g gi=9 ci=0
        mig 1 1 h100-80gb:1g gi=3 ci=0
        mig 1 4 h100-80gb:1g gi=5 ci=0
        """;

    private static string[] Nodes(int gpuMinor, int gi, int ci) =>
        [$"/dev/nvidia{gpuMinor}", $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(gpuMinor, gi)}",
         $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(gpuMinor, gi, ci)}"];

    [Theory]
    [InlineData(A100Memory, 1u, 1u, 4864ul, "1g.5gb")]
    [InlineData(A100Memory, 2u, 2u, 9856ul, "2g.10gb")]
    [InlineData(A100Memory, 3u, 3u, 19968ul, "3g.20gb")]
    [InlineData(A100Memory, 4u, 4u, 19968ul, "4g.20gb")]
    [InlineData(A100Memory, 7u, 7u, 40192ul, "7g.40gb")]
    [InlineData(A100Memory, 3u, 1u, 19968ul, "1c.3g.20gb")]
    [InlineData(H100Memory, 1u, 1u, 9984ul, "1g.10gb")]
    [InlineData(H100Memory, 1u, 1u, 19968ul, "1g.20gb")]
    [InlineData(H100Memory, 2u, 2u, 20096ul, "2g.20gb")]
    [InlineData(H100Memory, 3u, 3u, 40320ul, "3g.40gb")]
    [InlineData(H100Memory, 7u, 7u, 80896ul, "7g.80gb")]
    [InlineData(H200Memory, 1u, 1u, 16384ul, "1g.18gb")]
    [InlineData(H200Memory, 1u, 1u, 32768ul, "1g.35gb")]
    [InlineData(H200Memory, 2u, 2u, 33280ul, "2g.35gb")]
    [InlineData(H200Memory, 3u, 3u, 69632ul, "3g.71gb")]
    [InlineData(H200Memory, 4u, 4u, 69632ul, "4g.71gb")]
    [InlineData(H200Memory, 7u, 7u, 140800ul, "7g.141gb")]
    public void Profile_names_come_from_the_slice_counts_and_the_memory_rule(ulong parent, uint g, uint c, ulong mib, string expected) =>
        Assert.Equal(expected, NvmlMigProfile.Name(g, c, mib, parent));

    [Fact]
    public void An_h200_half_gpu_is_named_71gb_where_half_to_even_and_the_old_rule_name_it_differently()
    {
        // 69632 MiB of 143771: 4 eighths of ceil(140.4 GiB) = 141 → 70.5 GB.
        const ulong mib = 69632;
        var eighths = Math.Ceiling(8.0 * mib / 143771);
        var exact = eighths / 8 * Math.Ceiling(H200Memory / (double)(1UL << 30));
        Assert.Equal(70.5, exact);
        Assert.Equal(70, Math.Round(exact, MidpointRounding.ToEven));
        Assert.Equal(68, Math.Ceiling(mib / 1024.0));

        Assert.Equal("3g.71gb", NvmlMigProfile.Name(3, 3, mib, H200Memory));
        Assert.Equal(71ul, NvmlMigProfile.Gigabytes(mib, H200Memory));

        // The 7g instance: the old ceil(MiB/1024) rule gives 138.
        Assert.Equal(138, Math.Ceiling(140800 / 1024.0));
        Assert.Equal("7g.141gb", NvmlMigProfile.Name(7, 7, 140800, H200Memory));
    }

    [Fact]
    public void Without_the_parents_memory_gb_is_the_instances_own_memory_rounded_half_away_from_zero() =>
        Assert.Equal(["3g.68gb", "1g.17gb"], [NvmlMigProfile.Name(3, 3, 69632, null), NvmlMigProfile.Name(1, 1, 16896, null)]);

    [Fact]
    public async Task Mixed_advertises_whole_gpus_under_the_name_and_one_resource_per_profile()
    {
        await using var h = Create(H200AndWhole);
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed, replicas: 2));
        var all = h.Sink.Latest.ToDictionary(s => s.ResourceName);

        Assert.Equal(["nvidia.com/gpu", "nvidia.com/mig-1g.18gb", "nvidia.com/mig-3g.71gb"], all.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["GPU-whole"], Ids(all["nvidia.com/gpu"]));
        Assert.False(all["nvidia.com/gpu"].IsDerived);

        var small = all["nvidia.com/mig-1g.18gb"];
        Assert.Equal([Mig(0, 2), Mig(0, 5)], Ids(small));
        Assert.Equal([$"{Mig(0, 2)}::0", $"{Mig(0, 2)}::1", $"{Mig(0, 5)}::0", $"{Mig(0, 5)}::1"], small.Advertised.Select(a => a.Id));
        Assert.Equal("nvidia.com/gpu", small.ConfiguredName);
        Assert.Equal(InterconnectLevel.SameDevice, small.Topology.Level(0, 1));

        var big = Assert.Single(all["nvidia.com/mig-3g.71gb"].Devices);
        Assert.Equal(Mig(0, 0), big.Id);
        Assert.Equal(0, big.NumaNode);
        Assert.Equal("0000:18:00.0", big.PciAddress);
        Assert.Equal(Nodes(0, gi: 1, ci: 0), big.DeviceNodes.ToArray());
        Assert.Equal("3g.71gb", big.Attributes["profile"]);
        Assert.Equal("GPU-h200", big.Attributes["parent"]);
        Assert.Equal("1", big.Attributes["gpuInstance"]);
        Assert.Equal("0", big.Attributes["computeInstance"]);
        Assert.Equal((69632UL << 20).ToString(CultureInfo.InvariantCulture), big.Attributes["memory"]);
        Assert.Equal(1, h.Source.MigGpusSkipped);
        Assert.Equal(1, h.Logs.CountContaining($"MIG device {Mig(0, 0)} profile 3g.71gb on GPU GPU-h200 slot 0"));
    }

    [Fact]
    public async Task None_advertises_only_the_gpus_not_in_mig_mode()
    {
        await using var h = Create(H200AndWhole);
        await h.ApplyAsync(Resource());

        Assert.Equal(["GPU-whole"], Ids(Assert.Single(h.Sink.Latest)));
    }

    [Fact]
    public async Task Single_advertises_every_mig_device_under_the_name_when_every_gpu_has_one_profile()
    {
        await using var h = Create(TwoH100s);
        await h.ApplyAsync(Resource(mig: MigStrategy.Single));
        var snapshot = Assert.Single(h.Sink.Latest);

        Assert.Equal("nvidia.com/gpu", snapshot.ResourceName);
        Assert.Equal([Mig(0, 0), Mig(0, 3), Mig(1, 1), Mig(1, 4)], Ids(snapshot));
        Assert.Equal(Nodes(1, gi: 5, ci: 0), snapshot.Devices[3].DeviceNodes.ToArray());
    }

    [Fact]
    public async Task Single_without_any_gpu_in_mig_mode_advertises_whole_gpus()
    {
        await using var h = Create(Gpus(2, "mig=0"));
        await h.ApplyAsync(Resource(mig: MigStrategy.Single));

        Assert.Equal([Uuid(0), Uuid(1)], Ids(Assert.Single(h.Sink.Latest)));
    }

    [Theory]
    [InlineData(H200AndWhole, "mixed_mig_and_whole_gpus", "1 of 2 GPUs are in MIG mode; single needs all or none")]
    [InlineData(TwoH100s + "\ngpu uuid=GPU-empty minor=2 pci=00000000:38:00.0 mig=1\n", "mig_gpu_without_devices",
        "GPU GPU-empty is in MIG mode without MIG devices")]
    [InlineData(TwoH100s + "\nmig 1 6 h100-80gb:2g\n", "differing_profiles", "the MIG devices have differing profiles (1g.10gb, 2g.20gb); single needs one")]
    public async Task Single_advertises_nothing_when_it_cannot_and_the_log_and_a_metric_say_why(string config, string reason, string message)
    {
        var resource = $"test{Guid.NewGuid():N}.com/gpu";
        await using var h = Create(config);
        await h.ApplyAsync(Resource(name: resource, mig: MigStrategy.Single));
        var snapshot = Assert.Single(h.Sink.Latest);
        var gauge = h.Metrics.Read("nvml_mig_strategy_refused").Where(s => s.Labels[0] == resource).ToArray();

        Assert.Empty(snapshot.Devices);
        Assert.Equal(1, h.Logs.CountContaining($"resource {resource} (migStrategy single) advertises nothing: {message}"));
        Assert.Equal(1, Assert.Single(gauge, s => s.Labels[1] == reason).Value);
    }

    [Fact]
    public async Task Allocate_gives_the_parent_node_both_capability_nodes_the_control_nodes_and_the_mig_uuids_in_request_order()
    {
        await using var h = Create(TwoH100s);
        h.CreateDeviceNode("nvidiactl");
        h.CreateDeviceNode("nvidia-uvm");
        await h.ApplyAsync(Resource(mig: MigStrategy.Single, replicas: 2));
        var snapshot = Assert.Single(h.Sink.Latest);

        var response = AllocateResponseBuilder.Build(snapshot, [$"{Mig(1, 4)}::1", $"{Mig(0, 3)}::0", $"{Mig(1, 4)}::0", $"{Mig(1, 1)}::0"]);

        Assert.Equal($"{Mig(1, 4)},{Mig(0, 3)},{Mig(1, 1)}", response.Envs["NVIDIA_VISIBLE_DEVICES"]);
        string[] expected =
        [
            .. Nodes(1, gi: 5, ci: 0), .. Nodes(0, gi: 9, ci: 0),
            $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(1, 3)}", $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(1, 3, 0)}",
            "/dev/nvidiactl", "/dev/nvidia-uvm",
        ];
        Assert.Equal(expected, response.Devices.Select(d => d.HostPath));
        Assert.All(response.Devices, d => Assert.Equal((d.HostPath, "rw"), (d.ContainerPath, d.Permissions)));
        Assert.DoesNotContain(response.Devices, d => d.HostPath is "/dev/nvidia-caps/nvidia-cap1" or "/dev/nvidia-caps/nvidia-cap2");
    }

    [Fact]
    public async Task Capability_minors_come_from_the_access_files_when_mig_minors_is_absent_and_a_device_without_one_is_left_out()
    {
        await using var h = Create(TwoH100s);
        FakeProc.DeleteMigMinors(h.ProcRoot);
        FakeProc.WriteAccessFile(h.ProcRoot, 0, 7, null, 301);
        FakeProc.WriteAccessFile(h.ProcRoot, 0, 7, 0, 302);
        FakeProc.WriteAccessFile(h.ProcRoot, 0, 9, null, 303); // compute instance access file missing
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));
        var snapshot = h.Sink.Latest.Single(s => s.ResourceName == "nvidia.com/mig-1g.10gb");

        var device = Assert.Single(snapshot.Devices);
        Assert.Equal(Mig(0, 0), device.Id);
        Assert.Equal(["/dev/nvidia0", "/dev/nvidia-caps/nvidia-cap301", "/dev/nvidia-caps/nvidia-cap302"], device.DeviceNodes.ToArray());
        Assert.Equal(1, h.Logs.CountContaining($"MIG device {Mig(0, 3)} is left out: no capability minor for gpu0/gi9/ci0"));
        Assert.Equal(1, h.Logs.CountContaining($"MIG device {Mig(1, 1)} is left out: no capability minor for gpu1/gi3/ci0"));
    }

    [Fact]
    public async Task Without_cap_sys_admin_the_parents_memory_is_refused_the_log_says_so_and_the_gpu_still_counts_as_answering()
    {
        await using var h = Create(H200AndWhole.Replace("numa=0 mig=1", "numa=0 mig=1 migmemory=nopermission", StringComparison.Ordinal));
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));

        Assert.Contains(h.Sink.Latest, s => s.ResourceName == "nvidia.com/mig-3g.68gb");
        Assert.Equal(1, h.Logs.CountContaining("GPU GPU-h200 is in MIG mode and NVML refuses its total memory (NO_PERMISSION): the plugin lacks CAP_SYS_ADMIN"));

        // A rediscovery probes every GPU: NO_PERMISSION is an answer, not a lost GPU.
        h.Fake.Inject("migconfig 0");
        h.Fake.WaitForEventsConsumed(1, WaitLimit);
        await Eventually.TrueAsync(() => h.Logs.CountContaining("GPU set changed") >= 1, "the MIG change was acted on");
        Assert.All(h.Sink.Latest.SelectMany(s => s.Devices), d => Assert.Equal(DeviceHealth.Healthy, d.Health));
    }

    [Fact]
    public async Task A_driver_without_the_functions_that_list_mig_devices_logs_it_once_and_advertises_the_other_gpus()
    {
        await using var h = Create(H200AndWhole, withMigFunctions: false);
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));

        Assert.Equal(["GPU-whole"], Ids(Assert.Single(h.Sink.Latest)));
        Assert.Equal(1, h.Logs.CountContaining("NVML MIG functions are missing from this driver (nvmlDeviceGetMaxMigDeviceCount, "));
        Assert.Equal(0, h.Logs.CountContaining("NVML function nvmlDeviceGetMaxMigDeviceCount is missing"));
    }

    [Fact]
    public async Task Without_nvml_mig_mode_every_gpu_is_advertised_whole()
    {
        await using var h = Create(H200AndWhole, withOptionalFunctions: false);
        await h.ApplyAsync(Resource(mig: MigStrategy.Mixed));

        Assert.Equal(["GPU-h200", "GPU-whole"], Ids(Assert.Single(h.Sink.Latest)));
    }

    [Fact]
    public async Task Preferred_allocation_keeps_one_gpus_mig_devices_together_over_nvlink_to_another()
    {
        // Three 1g devices on each of two GPUs joined by 18 NVLinks.
        await using var h = Create("""
            gpu uuid=GPU-a memory=85520809984 minor=0 pci=00000000:18:00.0 numa=0 mig=1
            gpu uuid=GPU-b memory=85520809984 minor=1 pci=00000000:28:00.0 numa=0 mig=1
            mig 0 0 h100-80gb:1g
            mig 0 1 h100-80gb:1g
            mig 0 2 h100-80gb:1g
            mig 1 0 h100-80gb:1g
            mig 1 1 h100-80gb:1g
            mig 1 2 h100-80gb:1g
            nvlink 0 1 18
            """);
        await h.ApplyAsync(Resource(mig: MigStrategy.Single));
        var snapshot = Assert.Single(h.Sink.Latest);
        string[] available = [Mig(0, 0), Mig(1, 0), Mig(0, 1), Mig(1, 1), Mig(0, 2), Mig(1, 2)];

        Assert.Equal(18, snapshot.Topology.NvLinks(0, 3));
        var two = PreferredAllocator.Choose(snapshot, available, [Mig(1, 0)], 2);
        Assert.Equal(2, two.Count(id => id.StartsWith("MIG-00000000-0000-0000-0001-", StringComparison.Ordinal)));
        Assert.Equal([Mig(0, 0), Mig(0, 1), Mig(0, 2)], PreferredAllocator.Choose(snapshot, available, [Mig(0, 2)], 3).Order(StringComparer.Ordinal));
        var four = PreferredAllocator.Choose(snapshot, available, [Mig(1, 2)], 4);
        Assert.Equal(3, four.Count(id => id.StartsWith("MIG-00000000-0000-0000-0001-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Answering_allocate_and_preferred_allocation_for_mig_devices_makes_no_nvml_call()
    {
        await using var h = Create(TwoH100s);
        await h.ApplyAsync(Resource(mig: MigStrategy.Single, replicas: 3));
        var snapshot = Assert.Single(h.Sink.Latest);
        var ids = snapshot.Advertised.Select(a => a.Id).ToArray();
        var before = h.Fake.TotalCallsExcept("nvmlEventSetWait_v2");

        for (var i = 0; i < 1000; i++)
        {
            var response = AllocateResponseBuilder.Build(snapshot, [ids[i % ids.Length], ids[((i * 5) + 1) % ids.Length]]);
            Assert.StartsWith("MIG-", response.Envs["NVIDIA_VISIBLE_DEVICES"], StringComparison.Ordinal);
            Assert.Equal(1 + (i % 6), PreferredAllocator.Choose(snapshot, ids, [ids[i % ids.Length]], 1 + (i % 6)).Count);
        }

        Assert.Equal(before, h.Fake.TotalCallsExcept("nvmlEventSetWait_v2"));
    }

    [Fact]
    public async Task Mig_discovery_and_the_periodic_mig_check_cost_a_known_number_of_calls()
    {
        await using var h = Create(TwoH100s);
        await h.ApplyAsync(Resource(mig: MigStrategy.Single));
        string[] functions =
        [
            "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetUUID",
            "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetComputeInstanceId", "nvmlDeviceGetAttributes_v2",
        ];
        var start = functions.ToDictionary(f => f, h.Fake.Calls);

        // Per GPU: its MIG mode, the slot count and one handle per slot (7); per MIG device: UUID, both ids, attributes.
        Assert.Equal([2, 2, 14, 2 + 4, 4, 4, 4], functions.Select(f => start[f]));

        // The UUID check: per GPU its handle and UUID, then per GPU the MIG mode, the slot count, 7 handles, 2 UUIDs.
        h.Time.Advance(h.Options.UuidCheckInterval);
        Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlDeviceGetMaxMigDeviceCount") == 4, WaitLimit), "the MIG layout was not checked");
        var waits = h.Fake.Calls("nvmlEventSetWait_v2");
        Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlEventSetWait_v2") > waits, WaitLimit), "the health thread did not wait again");
        var check = functions.ToDictionary(f => f, f => h.Fake.Calls(f) - start[f]);
        Assert.Equal([2, 2, 14, 2 + 4, 0, 0, 0], functions.Select(f => check[f]));
        Assert.Equal(1, h.Sink.Count);
    }
}
