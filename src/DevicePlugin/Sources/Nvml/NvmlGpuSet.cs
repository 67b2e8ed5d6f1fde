using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The GPUs being advertised and what is derived from them once per set, never per request: their topology, their
/// healthy inventory entries and the handle lookup for events. Replaced as a whole when the GPU set changes.
/// </summary>
internal sealed class NvmlGpuSet
{
    private readonly Dictionary<nint, int> _byHandle = [];

    /// <param name="gpus">The GPUs to advertise, sorted by PCI address.</param>
    /// <param name="topology">Their pairwise interconnect, in the same order.</param>
    /// <param name="deviceCount">What nvmlDeviceGetCount_v2 answered when this set was discovered.</param>
    /// <param name="knownUuids">Every UUID the driver is believed to enumerate: advertised, in MIG mode, unreadable.</param>
    /// <param name="migGpusSkipped">GPUs left out because they are in MIG mode.</param>
    public NvmlGpuSet(ImmutableArray<NvmlGpu> gpus, TopologyMatrix topology, uint deviceCount,
        ImmutableHashSet<string> knownUuids, int migGpusSkipped)
    {
        Gpus = gpus;
        Topology = topology;
        DeviceCount = deviceCount;
        KnownUuids = knownUuids;
        MigGpusSkipped = migGpusSkipped;
        HealthyDevices = [.. gpus.Select(g => g.ToPhysicalDevice())];
        for (var i = 0; i < gpus.Length; i++)
        {
            _byHandle[gpus[i].Handle] = i;
        }
    }

    public ImmutableArray<NvmlGpu> Gpus { get; }

    public TopologyMatrix Topology { get; }

    public uint DeviceCount { get; }

    public ImmutableHashSet<string> KnownUuids { get; }

    public int MigGpusSkipped { get; }

    /// <summary>Each GPU's inventory entry while healthy, in <see cref="Gpus"/> order.</summary>
    public ImmutableArray<PhysicalDevice> HealthyDevices { get; }

    /// <summary>A set straight from one discovery, with its topology built now.</summary>
    public static NvmlGpuSet FromDiscovery(NvmlDiscoveryResult discovery, TopologyMatrix topology) =>
        new(discovery.Gpus, topology, discovery.DeviceCount, discovery.EnumeratedUuids, discovery.MigGpusSkipped);

    public bool TryFind(nint handle, out int index) => _byHandle.TryGetValue(handle, out index);

    public bool Contains(string uuid) => Gpus.Any(g => g.Uuid == uuid);
}
