using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// Chooses the devices a topology-aware scheduler would for GetPreferredAllocation, from the snapshot alone.
/// </summary>
public static class PreferredAllocator
{
    /// <summary>
    /// Returns <paramref name="size"/> IDs from <paramref name="available"/> (fewer when fewer are available),
    /// every known <paramref name="mustInclude"/> among them. Unknown and duplicate IDs are ignored.
    /// </summary>
    public static IReadOnlyList<string> Choose(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size)
    {
        var candidates = new List<AdvertisedDevice>(available.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in available)
        {
            if (seen.Add(id) && snapshot.TryGet(id, out var d))
            {
                candidates.Add(d);
            }
        }

        if (size <= 0 || candidates.Count == 0)
        {
            return [];
        }

        var chosen = new List<AdvertisedDevice>(size);
        var chosenIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in mustInclude)
        {
            if (chosen.Count < size && seen.Contains(id) && snapshot.TryGet(id, out var d) && chosenIds.Add(id))
            {
                chosen.Add(d);
            }
        }

        // Prefer the NUMA node(s) already used, then the nodes with most candidates.
        var byNode = candidates
            .Where(c => !chosenIds.Contains(c.Id))
            .GroupBy(c => snapshot.Devices[c.DeviceIndex].NumaNode ?? -1)
            .OrderByDescending(g => chosen.Any(c => (snapshot.Devices[c.DeviceIndex].NumaNode ?? -1) == g.Key))
            .ThenByDescending(g => g.Count() >= size - chosen.Count)
            .ThenByDescending(g => g.Count());
        foreach (var group in byNode)
        {
            foreach (var c in group)
            {
                if (chosen.Count == size)
                {
                    break;
                }

                chosenIds.Add(c.Id);
                chosen.Add(c);
            }
        }

        return chosen.Select(c => c.Id).ToArray();
    }
}
