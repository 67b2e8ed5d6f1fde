namespace DevicePlugin.Inventory;

/// <summary>
/// Immutable pairwise interconnect between the physical devices of one snapshot, indexed like
/// <see cref="ResourceSnapshot.Devices"/>. Computed by sources in the background when the device set changes;
/// the allocator only reads it.
/// </summary>
public sealed class TopologyMatrix
{
    /// <summary>Score of one NVLink between a pair: more than the strongest PCIe level can give.</summary>
    public const int NvLinkScore = 100;

    /// <summary>Score of two partitions of one device: more than any NVLink count (at most 255) can give.</summary>
    public const int SameDeviceScore = NvLinkScore * 256;

    private readonly InterconnectLevel[] _levels;
    private readonly byte[] _nvLinks;
    private readonly int[] _scores;

    public TopologyMatrix(int count, InterconnectLevel[] levels, byte[] nvLinks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (levels.Length != count * count || nvLinks.Length != count * count)
        {
            throw new ArgumentException($"a {count}x{count} matrix needs {count * count} entries");
        }

        Count = count;
        _levels = levels;
        _nvLinks = nvLinks;
        _scores = new int[count * count];
        for (var i = 0; i < count; i++)
        {
            for (var j = 0; j < count; j++)
            {
                var k = (i * count) + j;
                _scores[k] = i == j ? 0
                    : levels[k] == InterconnectLevel.SameDevice ? SameDeviceScore
                    : (NvLinkScore * nvLinks[k]) + (10 * (int)levels[k]);
            }
        }
    }

    public static TopologyMatrix Empty { get; } = new(0, [], []);

    public int Count { get; }

    public InterconnectLevel Level(int i, int j) => _levels[(i * Count) + j];

    public int NvLinks(int i, int j) => _nvLinks[(i * Count) + j];

    /// <summary>
    /// Strength of the link between two devices: 100 per NVLink plus 10 per PCIe level above
    /// <see cref="InterconnectLevel.CrossSocket"/>. Higher is better; a device with itself scores 0.
    /// </summary>
    public int Score(int i, int j) => _scores[(i * Count) + j];

    /// <summary>
    /// The matrix of items that each live on one of this matrix's devices (<paramref name="devices"/>[i] is item i's
    /// device): items on different devices are connected as their devices are, items on one device are
    /// <see cref="InterconnectLevel.SameDevice"/>. With distinct devices this selects a sub-matrix.
    /// </summary>
    public TopologyMatrix Project(IReadOnlyList<int> devices)
    {
        var n = devices.Count;
        var levels = new InterconnectLevel[n * n];
        var nvLinks = new byte[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var (a, b) = (devices[i], devices[j]);
                if (i == j)
                {
                    continue;
                }

                if (a == b)
                {
                    levels[(i * n) + j] = InterconnectLevel.SameDevice;
                }
                else
                {
                    levels[(i * n) + j] = Level(a, b);
                    nvLinks[(i * n) + j] = (byte)NvLinks(a, b);
                }
            }
        }

        return new TopologyMatrix(n, levels, nvLinks);
    }

    /// <summary>A matrix where every pair shares only what their NUMA nodes say (same node or not).</summary>
    public static TopologyMatrix FromNumaNodes(IReadOnlyList<int?> numaNodes)
    {
        var n = numaNodes.Count;
        var levels = new InterconnectLevel[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                levels[(i * n) + j] = i != j && numaNodes[i] is { } a && numaNodes[j] is { } b && a == b
                    ? InterconnectLevel.SameNumaNode
                    : InterconnectLevel.CrossSocket;
            }
        }

        return new TopologyMatrix(n, levels, new byte[n * n]);
    }
}
