using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The GPUs being watched (whole, and those in MIG mode with their MIG devices) and what is derived from them once
/// per set, never per request: their topology, their healthy inventory entries and the handle lookup for events.
/// Replaced as a whole when the GPU set or a MIG layout changes.
/// </summary>
internal sealed class NvmlGpuSet
{
    private readonly Dictionary<nint, int> _byHandle = [];

    /// <param name="gpus">The GPUs, sorted by PCI address.</param>
    /// <param name="topology">Their pairwise interconnect, in the same order.</param>
    /// <param name="deviceCount">What nvmlDeviceGetCount_v2 answered when this set was discovered.</param>
    /// <param name="knownUuids">Every UUID the driver is believed to enumerate: found or unreadable.</param>
    public NvmlGpuSet(ImmutableArray<NvmlGpu> gpus, TopologyMatrix topology, uint deviceCount, ImmutableHashSet<string> knownUuids)
    {
        Gpus = gpus;
        Topology = topology;
        DeviceCount = deviceCount;
        KnownUuids = knownUuids;
        MigGpusSkipped = gpus.Count(g => g.MigEnabled);
        HealthyDevices = [.. gpus.Select(g => g.ToPhysicalDevice())];
        var migs = ImmutableArray.CreateBuilder<NvmlMigDevice>();
        var parents = ImmutableArray.CreateBuilder<int>();
        var healthyMigs = ImmutableArray.CreateBuilder<PhysicalDevice>();
        for (var i = 0; i < gpus.Length; i++)
        {
            _byHandle[gpus[i].Handle] = i;
            foreach (var mig in gpus[i].MigDevices)
            {
                migs.Add(mig);
                parents.Add(i);
                healthyMigs.Add(mig.ToPhysicalDevice(gpus[i]));
            }
        }

        MigDevices = migs.ToImmutable();
        MigParents = parents.ToImmutable();
        HealthyMigDevices = healthyMigs.ToImmutable();
    }

    /// <summary>Every GPU, in MIG mode or not.</summary>
    public ImmutableArray<NvmlGpu> Gpus { get; }

    public TopologyMatrix Topology { get; }

    public uint DeviceCount { get; }

    public ImmutableHashSet<string> KnownUuids { get; }

    /// <summary>GPUs in MIG mode: never advertised whole.</summary>
    public int MigGpusSkipped { get; }

    /// <summary>Each GPU's whole-GPU inventory entry while healthy, in <see cref="Gpus"/> order.</summary>
    public ImmutableArray<PhysicalDevice> HealthyDevices { get; }

    /// <summary>Every MIG device of every GPU, GPUs in <see cref="Gpus"/> order, then by slot.</summary>
    public ImmutableArray<NvmlMigDevice> MigDevices { get; }

    /// <summary>For each of <see cref="MigDevices"/>, the index of its GPU in <see cref="Gpus"/>.</summary>
    public ImmutableArray<int> MigParents { get; }

    /// <summary>Each MIG device's inventory entry while healthy, in <see cref="MigDevices"/> order.</summary>
    public ImmutableArray<PhysicalDevice> HealthyMigDevices { get; }

    /// <summary>A set straight from one discovery, with its topology built now.</summary>
    public static NvmlGpuSet FromDiscovery(NvmlDiscoveryResult discovery, TopologyMatrix topology) =>
        new(discovery.Gpus, topology, discovery.DeviceCount, discovery.EnumeratedUuids);

    public bool TryFind(nint handle, out int index) => _byHandle.TryGetValue(handle, out index);

    public bool Contains(string uuid) => Gpus.Any(g => g.Uuid == uuid);
}
