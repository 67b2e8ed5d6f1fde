using System.Collections.Immutable;
using DevicePlugin.Allocation;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Allocation;

/// <summary>
/// The allocator against brute force on random small inventories: the same objective tuple every time, and every
/// answer valid. Seeded, so a failure names a reproducible case.
/// </summary>
public sealed class PreferredAllocatorPropertyTests
{
    public static TheoryData<int, int, int, int> Cases => new()
    {
        // seed, iterations, most devices, most replicas
        { 1, 1500, 12, 1 },
        { 2, 1500, 7, 3 },
        { 3, 1000, 5, 4 },
        { 4, 600, 12, 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Answer_has_the_best_score_and_satisfies_the_request(int seed, int iterations, int maxDevices, int maxReplicas)
    {
        var random = new Random(seed);
        for (var iteration = 0; iteration < iterations; iteration++)
        {
            var (snapshot, available, must, size) = RandomRequest(random, maxDevices, maxReplicas);
            var context = $"seed {seed} iteration {iteration}: {Describe(snapshot, available, must, size)}";

            var answer = PreferredAllocator.Choose(snapshot, available, must, size);
            AssertValid(snapshot, available, must, size, answer, context);

            var best = ReferenceAllocator.BestScore(snapshot, available, must, size);
            var got = ReferenceAllocator.Score(snapshot, available, answer);
            Assert.True(best == got, $"{context}\nbest {best}, allocator {got}: [{string.Join(',', answer)}]");

            var exact = PreferredAllocator.Choose(snapshot, available, must, size, AllocatorMode.Exact);
            Assert.Equal(best, ReferenceAllocator.Score(snapshot, available, exact));

            // The heuristic path, forced on small inputs: always valid, never claims better than the optimum.
            var heuristic = PreferredAllocator.Choose(snapshot, available, must, size, AllocatorMode.Heuristic);
            AssertValid(snapshot, available, must, size, heuristic, context + " (heuristic)");
            Assert.True(ReferenceAllocator.Score(snapshot, available, heuristic).CompareTo(best) >= 0, context);
        }
    }

    [Fact]
    public void Heuristic_finds_the_optimum_on_most_random_inventories()
    {
        var random = new Random(77);
        var optimal = 0;
        const int Iterations = 400;
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var (snapshot, available, must, size) = RandomRequest(random, 12, 1);
            var best = ReferenceAllocator.BestScore(snapshot, available, must, size);
            var heuristic = PreferredAllocator.Choose(snapshot, available, must, size, AllocatorMode.Heuristic);
            optimal += ReferenceAllocator.Score(snapshot, available, heuristic) == best ? 1 : 0;
        }

        // Greedy plus swaps is not exact, but on inventories this small it should almost always be.
        Assert.True(optimal >= Iterations * 98 / 100, $"heuristic optimal in {optimal} of {Iterations}");
    }

    private static void AssertValid(
        ResourceSnapshot snapshot, string[] available, string[] must, int size, IReadOnlyList<string> answer, string context)
    {
        try
        {
            AllocationAssert.Valid(snapshot, available, must, size, answer);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{context}\nanswer [{string.Join(',', answer)}]\n{e.Message}");
        }
    }

    private static (ResourceSnapshot Snapshot, string[] Available, string[] Must, int Size) RandomRequest(
        Random random, int maxDevices, int maxReplicas)
    {
        var count = random.Next(1, maxDevices + 1);
        var replicas = maxReplicas == 1 ? 1 : random.Next(2, maxReplicas + 1);
        var numaStyle = random.Next(4);
        var nodes = random.Next(1, 4);
        var numa = Enumerable.Range(0, count).Select(_ => numaStyle switch
        {
            0 => (int?)null,                                                  // nothing known
            1 => random.Next(nodes),                                          // all known
            _ => random.Next(3) == 0 ? null : random.Next(nodes),             // some unknown
        }).ToArray();

        var levels = new InterconnectLevel[count * count];
        var links = new byte[count * count];
        var matrixStyle = random.Next(3);
        for (var i = 0; i < count; i++)
        {
            for (var j = i + 1; j < count; j++)
            {
                var level = matrixStyle switch
                {
                    0 => numa[i] is { } a && numa[j] is { } b && a == b ? InterconnectLevel.SameNumaNode : InterconnectLevel.CrossSocket,
                    1 => (InterconnectLevel)random.Next(5),
                    _ => numa[i] == numa[j] && numa[i] is not null ? (InterconnectLevel)random.Next(1, 5) : InterconnectLevel.CrossSocket,
                };
                var nvlinks = matrixStyle > 0 && random.Next(4) == 0 ? (byte)random.Next(1, 4) : (byte)0;
                levels[(i * count) + j] = levels[(j * count) + i] = level;
                links[(i * count) + j] = links[(j * count) + i] = nvlinks;
            }
        }

        var devices = Enumerable.Range(0, count)
            .Select(i => new PhysicalDevice { Id = $"d{i}", NumaNode = numa[i] })
            .ToImmutableArray();
        var snapshot = new ResourceSnapshot(
            "example.com/dev", SimulatedSchema.Kind, devices, new TopologyMatrix(count, levels, links), replicas);

        var all = TestTopologies.AllIds(snapshot);
        var available = all.Where(_ => random.Next(5) != 0).ToList();
        if (random.Next(3) == 0)
        {
            available.Add("no-such-device");
        }

        if (available.Count > 0 && random.Next(3) == 0)
        {
            available.Add(available[random.Next(available.Count)]);
        }

        available = available.OrderBy(_ => random.Next()).ToList();
        var must = available.Where(_ => random.Next(6) == 0).ToList();
        if (random.Next(4) == 0)
        {
            must.Add("unknown-must");
        }

        var notAvailable = all.Except(available).ToArray();
        if (notAvailable.Length > 0 && random.Next(4) == 0)
        {
            must.Add(notAvailable[random.Next(notAvailable.Length)]);
        }

        if (must.Count > 0 && random.Next(5) == 0)
        {
            must.Add(must[0]);
        }

        var size = random.Next(-1, available.Distinct().Count() + 3);
        return (snapshot, available.ToArray(), must.ToArray(), size);
    }

    private static string Describe(ResourceSnapshot snapshot, string[] available, string[] must, int size) =>
        $"{snapshot.Devices.Length} devices x{snapshot.Replicas}, numa [{string.Join(',', snapshot.Devices.Select(d => d.NumaNode?.ToString() ?? "?"))}], "
        + $"available [{string.Join(',', available)}], must [{string.Join(',', must)}], size {size}";
}
