using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// Chooses the devices a topology-aware scheduler would for GetPreferredAllocation, from the snapshot alone.
/// One allocator for every resource; see docs/allocation.md for the objectives and the rules for odd requests.
/// </summary>
public static class PreferredAllocator
{
    /// <summary>
    /// Returns <paramref name="size"/> IDs from <paramref name="available"/> (all of them when fewer are available),
    /// every known <paramref name="mustInclude"/> among them, chosen by, in order: fewest NUMA nodes, strongest
    /// interconnect between distinct physical devices, most distinct physical devices, least sharing of replicas.
    /// Unknown and duplicate IDs are ignored. When more IDs must be included than <paramref name="size"/>, the answer
    /// is the best <paramref name="size"/> of the must-include IDs. Health is not looked at: the kubelet only offers
    /// healthy devices.
    /// </summary>
    public static IReadOnlyList<string> Choose(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size) =>
        Choose(snapshot, available, mustInclude, size, AllocatorMode.Automatic);

    /// <summary>As <see cref="Choose(ResourceSnapshot, IReadOnlyList{string}, IReadOnlyList{string}, int)"/>, with the search forced (tests).</summary>
    internal static IReadOnlyList<string> Choose(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size,
        AllocatorMode mode)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(available);
        ArgumentNullException.ThrowIfNull(mustInclude);
        if (AllocationProblem.Create(snapshot, available, mustInclude, size) is not { } problem)
        {
            return [];
        }

        int[] support;
        if (problem.Size == problem.TotalAvailable)
        {
            support = Enumerable.Range(0, problem.Count).ToArray();
        }
        else if (mode == AllocatorMode.Exact || (mode == AllocatorMode.Automatic && ExactSearch.Fits(problem)))
        {
            support = ExactSearch.Solve(problem);
        }
        else
        {
            support = HeuristicSearch.Solve(problem);
        }

        Array.Sort(support);
        var picks = ReplicaSpread.Distribute(problem, support);
        var answer = new string[problem.Size];
        var next = 0;
        for (var i = 0; i < support.Length; i++)
        {
            var ids = problem.Ids[support[i]];
            for (var k = 0; k < picks[i]; k++)
            {
                answer[next++] = ids[k].Id;
            }
        }

        return answer;
    }
}
