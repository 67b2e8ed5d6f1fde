using System.Collections.Immutable;
using DevicePlugin.Allocation;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Allocation;

public sealed class PreferredAllocatorTests
{
    private static IReadOnlyList<string> Choose(ResourceSnapshot snapshot, string[] available, string[] must, int size)
    {
        var answer = PreferredAllocator.Choose(snapshot, available, must, size);
        AllocationAssert.Valid(snapshot, available, must, size, answer);
        return answer;
    }

    private static string[] Gpus(params int[] indices) => indices.Select(i => $"gpu-{i:D2}").ToArray();

    [Fact]
    public void Dgx_pair_request_gets_an_nvlink_pair()
    {
        var snapshot = TestTopologies.Dgx8();
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), [], 2);
        Assert.Equal(Gpus(0, 1), answer);
    }

    [Fact]
    public void Dgx_pair_request_prefers_a_free_nvlink_pair_over_same_numa_gpus_without_one()
    {
        var snapshot = TestTopologies.Dgx8();
        var answer = Choose(snapshot, Gpus(0, 2, 4, 5), [], 2);
        Assert.Equal(Gpus(4, 5), answer);
    }

    [Fact]
    public void Dgx_four_gpus_stay_on_one_numa_node()
    {
        var snapshot = TestTopologies.Dgx8();
        // The NVLink pairs (0,1) and (4,5) are strongest, but they span two NUMA nodes.
        var answer = Choose(snapshot, Gpus(0, 1, 4, 5, 6, 7), [], 4);
        Assert.Equal(Gpus(4, 5, 6, 7), answer);
    }

    [Fact]
    public void Dgx_six_gpus_take_a_whole_node_and_an_nvlink_pair_of_the_other()
    {
        var snapshot = TestTopologies.Dgx8();
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), [], 6);
        var indices = answer.Select(id => int.Parse(id[4..])).Order().ToArray();
        var fullNode = indices.Count(i => i < 4) == 4 ? 0 : 1;
        var rest = indices.Where(i => i / 4 != fullNode).ToArray();
        Assert.Equal(4, indices.Length - rest.Length);
        Assert.Equal(2, rest.Length);
        Assert.Equal(rest[0] + 1, rest[1]);
        Assert.Equal(0, rest[0] % 2);
    }

    [Fact]
    public void Must_include_across_numa_nodes_brings_each_nvlink_partner()
    {
        var snapshot = TestTopologies.Dgx8();
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), Gpus(0, 4), 4);
        Assert.Equal(Gpus(0, 1, 4, 5), answer);
    }

    [Fact]
    public void Must_include_larger_than_the_request_chooses_the_best_of_the_must_include()
    {
        var snapshot = TestTopologies.Dgx8();
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), Gpus(0, 2, 6, 7), 2);
        Assert.Equal(Gpus(6, 7), answer);
    }

    [Fact]
    public void Pcie_switch_pairs_without_nvlink_are_kept_together()
    {
        var snapshot = TestTopologies.Hierarchical(8, numaNodes: 2, switchSize: 2, nvLinkGroup: 0, linksPerPair: 0);
        Assert.Equal(Gpus(0, 1), Choose(snapshot, TestTopologies.AllIds(snapshot), [], 2));
        Assert.Equal(Gpus(2, 3), Choose(snapshot, Gpus(0, 2, 3, 5), [], 2));
    }

    [Fact]
    public void Interconnect_levels_rank_nvlink_then_switch_then_root_complex_then_numa()
    {
        // Pairs (0,1) NVLink on one NUMA node only, (2,3) one switch, (4,5) one root complex, (6,7) same node only.
        var snapshot = TestTopologies.Build(
            8,
            _ => 0,
            (i, j) => (i / 2 == j / 2 ? i / 2 : -1) switch
            {
                1 => InterconnectLevel.SingleSwitch,
                2 => InterconnectLevel.SameRootComplex,
                _ => InterconnectLevel.SameNumaNode,
            },
            (i, j) => i == 0 && j == 1 ? 1 : 0);
        var all = TestTopologies.AllIds(snapshot);
        Assert.Equal(Gpus(0, 1), Choose(snapshot, all, [], 2));
        Assert.Equal(Gpus(2, 3), Choose(snapshot, all.Except(Gpus(0)).ToArray(), [], 2));
        Assert.Equal(Gpus(4, 5), Choose(snapshot, all.Except(Gpus(0, 2)).ToArray(), [], 2));
    }

    [Fact]
    public void Cross_socket_nvlink_loses_to_a_single_numa_node()
    {
        // gpu-00 and gpu-04 share an NVLink but sit on different NUMA nodes: fewest nodes comes first.
        var snapshot = TestTopologies.Build(
            8, i => i / 4, (i, j) => i / 4 == j / 4 ? InterconnectLevel.SameNumaNode : InterconnectLevel.CrossSocket,
            (i, j) => i == 0 && j == 4 ? 8 : 0);
        var answer = Choose(snapshot, Gpus(0, 4, 5), [], 2);
        Assert.Equal(Gpus(4, 5), answer);
    }

    [Fact]
    public void Unknown_numa_fits_any_node_but_known_same_node_devices_win_on_interconnect()
    {
        int?[] numa = [0, 0, null, null, 1, 1];
        var devices = numa.Select((n, i) => new PhysicalDevice { Id = $"gpu-{i:D2}", NumaNode = n }).ToImmutableArray();
        var snapshot = new ResourceSnapshot("example.com/gpu", SimulatedSchema.Kind, devices);

        // Same known node scores SameNumaNode; unknown pairs score nothing.
        Assert.Equal(Gpus(0, 1), Choose(snapshot, TestTopologies.AllIds(snapshot), [], 2));

        // One known device from each node and an unknown one: a known device plus the unknown is one node, better
        // than two known devices on two nodes.
        var answer = Choose(snapshot, Gpus(0, 2, 4), [], 2);
        Assert.Contains("gpu-02", answer);

        // Only unknown devices: still a full, valid answer.
        Assert.Equal(Gpus(2, 3), Choose(snapshot, Gpus(2, 3), [], 2));
    }

    [Fact]
    public void Replicas_spread_over_distinct_devices_first()
    {
        var snapshot = TestTopologies.Dgx8(replicas: 4);
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), [], 2);
        Assert.Equal(["gpu-00::0", "gpu-01::0"], answer);

        var four = Choose(snapshot, TestTopologies.AllIds(snapshot), [], 4);
        Assert.Equal(["gpu-00::0", "gpu-01::0", "gpu-02::0", "gpu-03::0"], four);
    }

    [Fact]
    public void Replicas_beyond_the_distinct_devices_come_from_the_least_shared_device()
    {
        var snapshot = TestTopologies.Build(
            2, _ => 0, (_, _) => InterconnectLevel.SingleSwitch, (_, _) => 0, replicas: 4);
        // gpu-01 already has two replicas held by other containers.
        string[] available = ["gpu-00::0", "gpu-00::1", "gpu-00::2", "gpu-00::3", "gpu-01::2", "gpu-01::3"];
        Assert.Equal(["gpu-00::0", "gpu-00::1", "gpu-01::2"], Choose(snapshot, available, [], 3));
        Assert.Equal(["gpu-00::0", "gpu-00::1", "gpu-00::2", "gpu-01::2"], Choose(snapshot, available, [], 4));
    }

    [Fact]
    public void Replicas_of_a_resource_with_distinct_devices_land_on_distinct_devices()
    {
        var snapshot = TestTopologies.Build(
            8, i => i / 4, (i, j) => i / 4 == j / 4 ? InterconnectLevel.SameNumaNode : InterconnectLevel.CrossSocket,
            (_, _) => 0, replicas: 2, distinctDevices: true);
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), [], 4);
        var devices = answer.Select(id => id.Split("::")[0]).ToArray();
        Assert.Equal(4, devices.Distinct().Count());
        Assert.Single(devices.Select(d => snapshot.Devices.First(p => p.Id == d).NumaNode).Distinct());
    }

    [Fact]
    public void Must_include_replica_is_kept_and_its_device_counted_once()
    {
        var snapshot = TestTopologies.Dgx8(replicas: 2);
        var answer = Choose(snapshot, TestTopologies.AllIds(snapshot), ["gpu-05::1"], 2);
        Assert.Equal(["gpu-04::0", "gpu-05::1"], answer);
    }

    [Fact]
    public void Unknown_and_duplicate_ids_are_ignored_and_short_supply_returns_everything()
    {
        var snapshot = TestTopologies.Dgx8();
        string[] available = ["gpu-03", "bogus", "gpu-03", "gpu-06"];
        Assert.Equal(Gpus(3, 6), Choose(snapshot, available, ["bogus", "gpu-07"], 5));
        Assert.Empty(Choose(snapshot, available, [], 0));
        Assert.Empty(Choose(snapshot, ["bogus"], [], 2));
        Assert.Empty(Choose(snapshot, [], [], 2));
    }

    [Fact]
    public void Health_is_not_filtered_the_kubelet_offers_only_healthy_devices()
    {
        var snapshot = TestTopologies.Dgx8();
        var sick = new ResourceSnapshot(
            snapshot.ResourceName, snapshot.Source,
            snapshot.Devices.Select(d => d.Id == "gpu-01" ? d with { Health = DeviceHealth.Unhealthy } : d).ToImmutableArray(),
            snapshot.Topology);
        Assert.Equal(Gpus(0, 1), Choose(sick, Gpus(0, 1, 2), [], 2));
    }

    [Fact]
    public void Large_inventory_of_64_gpus_with_8_replicas_gives_valid_topology_aware_answers()
    {
        // 2 NUMA nodes, switches of 4, NVLink groups of 8: too large for the exact search.
        var snapshot = TestTopologies.Hierarchical(64, numaNodes: 2, switchSize: 4, nvLinkGroup: 8, linksPerPair: 2, replicas: 8);
        var all = TestTopologies.AllIds(snapshot);
        var problem = AllocationProblem.Create(snapshot, all, [], 8)!;
        Assert.False(ExactSearch.Fits(problem));

        var answer = Choose(snapshot, all, [], 8);
        var devices = answer.Select(id => int.Parse(id[4..6])).ToArray();
        Assert.Equal(8, devices.Distinct().Count());
        Assert.Single(devices.Select(d => d / 8).Distinct());

        var random = new Random(64);
        for (var iteration = 0; iteration < 60; iteration++)
        {
            var available = all.Where(_ => random.Next(4) != 0).ToArray();
            var must = available.Where(_ => random.Next(40) == 0).ToArray();
            var size = random.Next(1, 200);
            var result = Choose(snapshot, available, must, size);
            var used = result.Select(id => int.Parse(id[4..6])).Distinct().ToArray();
            // Never two NUMA nodes when one can hold the request and the must-include devices.
            var mustNodes = must.Select(id => int.Parse(id[4..6]) / 32).Distinct().ToArray();
            var fitsOneNode = mustNodes.Length <= 1 && Enumerable.Range(0, 2).Any(node =>
                (mustNodes.Length == 0 || mustNodes[0] == node)
                && available.Count(id => int.Parse(id[4..6]) / 32 == node) >= size);
            if (fitsOneNode)
            {
                Assert.Single(used.Select(d => d / 32).Distinct());
            }
        }
    }
}
