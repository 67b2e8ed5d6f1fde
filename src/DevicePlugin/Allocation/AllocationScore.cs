namespace DevicePlugin.Allocation;

/// <summary>
/// How good a preferred allocation is, compared objective by objective (lexicographically):
/// fewest NUMA nodes, then strongest interconnect, then most distinct physical devices, then least sharing.
/// </summary>
/// <param name="NumaNodes">
/// Distinct known NUMA nodes of the set's physical devices; a device with unknown NUMA fits any node, so it adds none,
/// and a non-empty set counts at least 1. Lower is better.
/// </param>
/// <param name="Interconnect">
/// Sum of <see cref="Inventory.TopologyMatrix.Score"/> over unordered pairs of distinct physical devices in the set.
/// Higher is better.
/// </param>
/// <param name="DistinctDevices">Physical devices the set touches. Higher is better (replicas spread out).</param>
/// <param name="SharingCost">
/// For each replica taken from a device, how many replicas of that device were already taken before it, by other
/// containers (not in the available list) or by this set's earlier picks. Lower is better; 0 without replicas.
/// </param>
internal readonly record struct AllocationScore(int NumaNodes, long Interconnect, int DistinctDevices, long SharingCost)
{
    /// <summary>Worse than any real set: used to start a search.</summary>
    public static AllocationScore Worst { get; } = new(int.MaxValue, long.MinValue, int.MinValue, long.MaxValue);

    /// <summary>True when this score is strictly better than <paramref name="other"/>.</summary>
    public bool IsBetterThan(AllocationScore other) => Compare(this, other) > 0;

    /// <summary>Positive when <paramref name="a"/> is better, negative when worse, 0 when equal.</summary>
    public static int Compare(AllocationScore a, AllocationScore b)
    {
        if (a.NumaNodes != b.NumaNodes)
        {
            return a.NumaNodes < b.NumaNodes ? 1 : -1;
        }

        if (a.Interconnect != b.Interconnect)
        {
            return a.Interconnect > b.Interconnect ? 1 : -1;
        }

        if (a.DistinctDevices != b.DistinctDevices)
        {
            return a.DistinctDevices > b.DistinctDevices ? 1 : -1;
        }

        return a.SharingCost == b.SharingCost ? 0 : a.SharingCost < b.SharingCost ? 1 : -1;
    }
}
