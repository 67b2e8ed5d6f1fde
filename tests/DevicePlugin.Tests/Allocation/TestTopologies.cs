using System.Collections.Immutable;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Allocation;

/// <summary>Snapshots with hand-made topologies, shared by the allocation tests and the benchmarks.</summary>
public static class TestTopologies
{
    /// <summary>A snapshot of <paramref name="count"/> devices <c>gpu-00</c>… with the given NUMA and pair links.</summary>
    public static ResourceSnapshot Build(
        int count,
        Func<int, int?> numa,
        Func<int, int, InterconnectLevel> level,
        Func<int, int, int> nvLinks,
        int replicas = 1,
        bool distinctDevices = false,
        string resourceName = "example.com/gpu")
    {
        var devices = Enumerable.Range(0, count)
            .Select(i => new PhysicalDevice
            {
                Id = $"gpu-{i:D2}",
                NumaNode = numa(i),
                DeviceNodes = [$"/dev/accel{i}"],
            })
            .ToImmutableArray();
        var levels = new InterconnectLevel[count * count];
        var links = new byte[count * count];
        for (var i = 0; i < count; i++)
        {
            for (var j = 0; j < count; j++)
            {
                if (i != j)
                {
                    var (a, b) = i < j ? (i, j) : (j, i);
                    levels[(i * count) + j] = level(a, b);
                    links[(i * count) + j] = checked((byte)nvLinks(a, b));
                }
            }
        }

        return new ResourceSnapshot(
            resourceName, SimulatedSchema.Kind, devices, new TopologyMatrix(count, levels, links), replicas,
            distinctDevices: distinctDevices);
    }

    /// <summary>
    /// A DGX-like node: <paramref name="count"/> GPUs split evenly over <paramref name="numaNodes"/> NUMA nodes,
    /// PCIe switches of <paramref name="switchSize"/> GPUs, NVLink groups of <paramref name="nvLinkGroup"/> GPUs
    /// (each pair in a group joined by <paramref name="linksPerPair"/> links; 0 for none).
    /// </summary>
    public static ResourceSnapshot Hierarchical(
        int count, int numaNodes, int switchSize, int nvLinkGroup, int linksPerPair, int replicas = 1)
    {
        var perNode = count / numaNodes;
        return Build(
            count,
            i => i / perNode,
            (i, j) => i / switchSize == j / switchSize ? InterconnectLevel.SingleSwitch
                : i / perNode == j / perNode ? InterconnectLevel.SameNumaNode
                : InterconnectLevel.CrossSocket,
            (i, j) => nvLinkGroup > 0 && i / nvLinkGroup == j / nvLinkGroup ? linksPerPair : 0,
            replicas);
    }

    /// <summary>8 GPUs, 4 per NUMA node, NVLink pairs (0,1) (2,3) (4,5) (6,7), each pair behind its own switch.</summary>
    public static ResourceSnapshot Dgx8(int replicas = 1) => Hierarchical(8, 2, 2, 2, 4, replicas);

    /// <summary>Every advertised ID of the snapshot.</summary>
    public static string[] AllIds(ResourceSnapshot snapshot) => snapshot.Advertised.Select(a => a.Id).ToArray();
}
