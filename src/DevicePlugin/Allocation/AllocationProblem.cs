using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// One GetPreferredAllocation request reduced to what the search needs: the physical devices that have at least one
/// available ID ("candidates", compact indices 0..Count-1), how many IDs each has available and must take, and their
/// NUMA nodes renumbered 0..NodeCount-1 (-1 unknown). Built once per request; the searches only read it.
/// </summary>
internal sealed class AllocationProblem
{
    private readonly TopologyMatrix _topology;
    private readonly int[] _used;

    private AllocationProblem(
        ResourceSnapshot snapshot, int size, int[] deviceIndex, int[] node, int nodeCount, int[] available,
        int[] used, int[] required, AdvertisedDevice[][] ids)
    {
        _topology = snapshot.Topology;
        Replicas = snapshot.Replicas;
        Size = size;
        Count = deviceIndex.Length;
        DeviceIndex = deviceIndex;
        Node = node;
        NodeCount = nodeCount;
        Available = available;
        _used = used;
        Required = required;
        Ids = ids;
        for (var d = 0; d < Count; d++)
        {
            TotalAvailable += available[d];
            RequiredTotal += required[d];
        }
    }

    /// <summary>IDs to choose; never more than <see cref="TotalAvailable"/>.</summary>
    public int Size { get; }

    /// <summary>Replicas per physical device in the snapshot (1 without replicas).</summary>
    public int Replicas { get; }

    /// <summary>Candidate physical devices.</summary>
    public int Count { get; }

    /// <summary>Candidate → index in <see cref="ResourceSnapshot.Devices"/>.</summary>
    public int[] DeviceIndex { get; }

    /// <summary>Candidate → compact NUMA node, -1 when unknown.</summary>
    public int[] Node { get; }

    public int NodeCount { get; }

    /// <summary>Candidate → IDs of it that may be chosen (1 without replicas).</summary>
    public int[] Available { get; }

    /// <summary>Candidate → IDs of it the request must include.</summary>
    public int[] Required { get; }

    /// <summary>Candidate → its available IDs, the must-include ones first, then by replica number.</summary>
    public AdvertisedDevice[][] Ids { get; }

    public int TotalAvailable { get; }

    public int RequiredTotal { get; }

    /// <summary>Replicas of a candidate already held elsewhere: not in the available list.</summary>
    public int Used(int d) => _used[d];

    /// <summary>Link strength between two candidates (symmetric, 0 with itself).</summary>
    public int Score(int a, int b) => _topology.Score(DeviceIndex[a], DeviceIndex[b]);

    /// <summary>Fewest picks a set containing candidate <paramref name="d"/> takes from it.</summary>
    public int BasePicks(int d) => Math.Max(1, Required[d]);

    /// <summary>
    /// Builds the problem. Unknown and duplicate IDs are dropped; must-include IDs that are not available are dropped.
    /// When more IDs must be included than <paramref name="size"/> allows, the answer is drawn from the must-include
    /// IDs alone (they become the candidates and nothing is forced). <paramref name="size"/> is clamped to what is
    /// available. Returns null when there is nothing to choose from.
    /// </summary>
    public static AllocationProblem? Create(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size)
    {
        if (size <= 0 || available.Count == 0)
        {
            return null;
        }

        var seen = new HashSet<string>(available.Count, StringComparer.Ordinal);
        var candidates = new List<AdvertisedDevice>(available.Count);
        foreach (var id in available)
        {
            if (id is not null && snapshot.TryGet(id, out var advertised) && seen.Add(id))
            {
                candidates.Add(advertised);
            }
        }

        var must = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in mustInclude)
        {
            if (id is not null && seen.Contains(id))
            {
                must.Add(id);
            }
        }

        var availablePerDevice = new Dictionary<int, int>();
        foreach (var c in candidates)
        {
            availablePerDevice[c.DeviceIndex] = availablePerDevice.GetValueOrDefault(c.DeviceIndex) + 1;
        }

        if (must.Count > size)
        {
            candidates.RemoveAll(c => !must.Contains(c.Id));
            must.Clear();
        }

        if (candidates.Count == 0)
        {
            return null;
        }

        // Group by physical device, in snapshot order.
        candidates.Sort(static (a, b) => a.DeviceIndex != b.DeviceIndex
            ? a.DeviceIndex.CompareTo(b.DeviceIndex)
            : a.Replica.CompareTo(b.Replica));
        var groups = new List<AdvertisedDevice[]>();
        var start = 0;
        for (var i = 1; i <= candidates.Count; i++)
        {
            if (i == candidates.Count || candidates[i].DeviceIndex != candidates[start].DeviceIndex)
            {
                var group = candidates.GetRange(start, i - start).ToArray();
                // Must-include IDs first (stable, so replica order is kept within each part).
                var ordered = group.Where(a => must.Contains(a.Id)).Concat(group.Where(a => !must.Contains(a.Id))).ToArray();
                groups.Add(ordered);
                start = i;
            }
        }

        var count = groups.Count;
        var deviceIndex = new int[count];
        var node = new int[count];
        var availableCounts = new int[count];
        var used = new int[count];
        var required = new int[count];
        var nodeIds = new Dictionary<int, int>();
        for (var d = 0; d < count; d++)
        {
            var group = groups[d];
            deviceIndex[d] = group[0].DeviceIndex;
            availableCounts[d] = group.Length;
            used[d] = snapshot.Replicas - availablePerDevice[deviceIndex[d]];
            foreach (var a in group)
            {
                if (must.Contains(a.Id))
                {
                    required[d]++;
                }
            }

            if (snapshot.Devices[deviceIndex[d]].NumaNode is { } numa and >= 0)
            {
                if (!nodeIds.TryGetValue(numa, out var compact))
                {
                    compact = nodeIds.Count;
                    nodeIds.Add(numa, compact);
                }

                node[d] = compact;
            }
            else
            {
                node[d] = -1;
            }
        }

        return new AllocationProblem(
            snapshot, Math.Min(size, candidates.Count), deviceIndex, node, nodeIds.Count, availableCounts, used, required,
            groups.ToArray());
    }
}
