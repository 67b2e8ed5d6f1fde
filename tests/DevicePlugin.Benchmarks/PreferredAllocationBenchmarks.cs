using BenchmarkDotNet.Attributes;
using DevicePlugin.Allocation;
using DevicePlugin.Inventory;
using DevicePlugin.Tests.Allocation;

namespace DevicePlugin.Benchmarks;

/// <summary>
/// GetPreferredAllocation on DGX-like nodes (2 NUMA nodes, PCIe switches, NVLink groups) with a quarter of the IDs
/// already taken, so the search has real choices to make.
/// </summary>
[MemoryDiagnoser]
public class PreferredAllocationBenchmarks
{
    private ResourceSnapshot _snapshot = null!;
    private string[] _available = [];
    private string[] _must = [];
    private int _size;

    /// <summary>Inventory and request: GPUs x replicas, request size.</summary>
    [Params(
        "8 GPUs, 4", "16 GPUs, 8", "64 GPUs, 8", "64 GPUs, 32", "64x8 replicas, 8", "64x8 replicas, 100",
        "64x8 flat, 32", "64 random, 24", "64x8 random, 32", "16x8 flat, 16", "16x4 random, 10", "1024 PCI, 256")]
    public string Scenario { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        (_snapshot, _size) = Scenario switch
        {
            "8 GPUs, 4" => (TestTopologies.Dgx8(), 4),
            "16 GPUs, 8" => (TestTopologies.Hierarchical(16, 2, 2, 4, 2), 8),
            "64 GPUs, 8" => (TestTopologies.Hierarchical(64, 2, 4, 8, 2), 8),
            "64 GPUs, 32" => (TestTopologies.Hierarchical(64, 2, 4, 8, 2), 32),
            "64x8 replicas, 8" => (TestTopologies.Hierarchical(64, 2, 4, 8, 2, replicas: 8), 8),
            "64x8 replicas, 100" => (TestTopologies.Hierarchical(64, 2, 4, 8, 2, replicas: 8), 100),
            // Worst cases for the heuristic: every set ties on NUMA and links (ties are settled by sharing), or links
            // without structure (many improving swaps).
            "64x8 flat, 32" => (TestTopologies.Build(
                64, _ => null, (_, _) => InterconnectLevel.CrossSocket, (_, _) => 0, replicas: 8), 32),
            "64 random, 24" => (RandomLinks(64, 1, numa: true), 24),
            "64x8 random, 32" => (RandomLinks(64, 8, numa: false), 32),
            "16x4 random, 10" => (RandomLinks(16, 4, numa: false), 10),
            // Worst case for the exact search: 2^16 sets of 16 devices, all tied but for sharing.
            "16x8 flat, 16" => (TestTopologies.Build(
                16, _ => null, (_, _) => InterconnectLevel.CrossSocket, (_, _) => 0, replicas: 8), 16),
            // Far beyond the 64-GPU target: the work budget runs out, so this shows what the whole budget costs.
            "1024 PCI, 256" => (TestTopologies.Hierarchical(1024, 2, 4, 0, 0), 256),
            _ => throw new ArgumentException($"unknown scenario {Scenario}"),
        };
        var random = new Random(42);
        var all = TestTopologies.AllIds(_snapshot);
        _available = _snapshot.Devices.Length <= 8 ? all : all.Where(_ => random.Next(4) != 0).ToArray();
        _must = [_available[^1]];
    }

    private static ResourceSnapshot RandomLinks(int count, int replicas, bool numa)
    {
        var random = new Random(7);
        var levels = new InterconnectLevel[count, count];
        var links = new int[count, count];
        for (var i = 0; i < count; i++)
        {
            for (var j = i + 1; j < count; j++)
            {
                levels[i, j] = (InterconnectLevel)random.Next(5);
                links[i, j] = random.Next(4) == 0 ? random.Next(1, 5) : 0;
            }
        }

        return TestTopologies.Build(
            count, i => numa ? i / 32 : null, (i, j) => levels[i, j], (i, j) => links[i, j], replicas);
    }

    [Benchmark]
    public IReadOnlyList<string> Choose() => PreferredAllocator.Choose(_snapshot, _available, _must, _size);
}
