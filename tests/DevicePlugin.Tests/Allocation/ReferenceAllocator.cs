using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.Allocation;

/// <summary>
/// The allocation objectives written out plainly, independent of the allocator: a scorer for any answer and a brute
/// force over every multiset of replicas, for comparing scores on small inventories.
/// </summary>
public static class ReferenceAllocator
{
    /// <summary>
    /// The objective tuple, ordered so that smaller is better: (NUMA nodes, -interconnect, -distinct devices, sharing).
    /// </summary>
    public static (int Numa, long NegInterconnect, int NegDistinct, long Sharing) Score(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> answer)
    {
        var availablePerDevice = AvailablePerDevice(snapshot, available);
        var picks = new Dictionary<int, int>();
        foreach (var id in answer)
        {
            Assert.True(snapshot.TryGet(id, out var a), $"answer has unknown ID {id}");
            picks[a.DeviceIndex] = picks.GetValueOrDefault(a.DeviceIndex) + 1;
        }

        return Score(snapshot, availablePerDevice, picks);
    }

    /// <summary>Best objective tuple over every valid answer, by enumeration.</summary>
    public static (int Numa, long NegInterconnect, int NegDistinct, long Sharing) BestScore(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size)
    {
        var availableIds = available.Where(id => snapshot.TryGet(id, out _)).Distinct().ToList();
        var must = mustInclude.Where(availableIds.Contains).Distinct().ToList();
        var pool = must.Count > size ? must : availableIds;
        if (must.Count > size)
        {
            must = [];
        }

        var target = Math.Max(0, Math.Min(size, pool.Count));
        var availablePerDevice = AvailablePerDevice(snapshot, available);
        var devices = pool.Select(Device).Distinct().Order().ToArray();
        var cap = devices.Select(d => pool.Count(id => Device(id) == d)).ToArray();
        var min = devices.Select(d => must.Count(id => Device(id) == d)).ToArray();

        var best = (int.MaxValue, long.MaxValue, int.MaxValue, long.MaxValue);
        var picks = new int[devices.Length];
        Enumerate(0, target);
        return best;

        void Enumerate(int position, int left)
        {
            if (position == devices.Length)
            {
                if (left == 0)
                {
                    var chosen = new Dictionary<int, int>();
                    for (var i = 0; i < devices.Length; i++)
                    {
                        if (picks[i] > 0)
                        {
                            chosen[devices[i]] = picks[i];
                        }
                    }

                    var score = Score(snapshot, availablePerDevice, chosen);
                    if (score.CompareTo(best) < 0)
                    {
                        best = score;
                    }
                }

                return;
            }

            for (var t = min[position]; t <= Math.Min(cap[position], left); t++)
            {
                picks[position] = t;
                Enumerate(position + 1, left - t);
            }

            picks[position] = 0;
        }

        int Device(string id)
        {
            snapshot.TryGet(id, out var a);
            return a.DeviceIndex;
        }
    }

    private static Dictionary<int, int> AvailablePerDevice(ResourceSnapshot snapshot, IReadOnlyList<string> available)
    {
        var result = new Dictionary<int, int>();
        foreach (var id in available.Distinct())
        {
            if (snapshot.TryGet(id, out var a))
            {
                result[a.DeviceIndex] = result.GetValueOrDefault(a.DeviceIndex) + 1;
            }
        }

        return result;
    }

    private static (int, long, int, long) Score(
        ResourceSnapshot snapshot, Dictionary<int, int> availablePerDevice, Dictionary<int, int> picks)
    {
        var devices = picks.Keys.Order().ToArray();
        var knownNodes = devices.Select(d => snapshot.Devices[d].NumaNode).Where(n => n is not null).Distinct().Count();
        var numa = devices.Length == 0 ? 0 : Math.Max(1, knownNodes);
        long interconnect = 0;
        for (var i = 0; i < devices.Length; i++)
        {
            for (var j = i + 1; j < devices.Length; j++)
            {
                interconnect += snapshot.Topology.Score(devices[i], devices[j]);
            }
        }

        long sharing = 0;
        foreach (var (d, t) in picks)
        {
            var heldElsewhere = snapshot.Replicas - availablePerDevice[d];
            for (var k = 0; k < t; k++)
            {
                sharing += heldElsewhere + k;
            }
        }

        return (numa, -interconnect, -devices.Length, sharing);
    }
}
