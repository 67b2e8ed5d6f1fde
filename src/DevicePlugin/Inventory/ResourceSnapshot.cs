using System.Collections.Frozen;
using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// Everything the plugin knows about one extended resource at one moment: a source's devices joined with the
/// resource's policy (<c>Pipeline/ResourceJoin</c>). Immutable and self-contained: the gRPC server answers ListAndWatch,
/// Allocate and GetPreferredAllocation from the snapshot it holds, without calling back into any source. Nothing here
/// depends on the source's kind: what a container gets for a device is in the device's own edits.
/// </summary>
public sealed class ResourceSnapshot
{
    private readonly FrozenDictionary<string, AdvertisedDevice> _byId;
    private ImmutableSortedDictionary<string, string> _featureLabels = ImmutableSortedDictionary<string, string>.Empty;

    public ResourceSnapshot(
        string resourceName,
        SourceKind source,
        ImmutableArray<PhysicalDevice> devices,
        TopologyMatrix? topology = null,
        int replicas = 1,
        bool preStartRequired = false,
        ImmutableArray<string> sharedDeviceNodes = default,
        DeviceNaming naming = DeviceNaming.Env,
        bool distinctDevices = false,
        string? cdiKind = null,
        string? configuredName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourceName);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        topology ??= TopologyMatrix.FromNumaNodes(devices.Select(d => d.NumaNode).ToArray());
        if (topology.Count != devices.Length)
        {
            throw new ArgumentException($"topology has {topology.Count} devices, the snapshot {devices.Length}");
        }

        ResourceName = resourceName;
        Source = source;
        Devices = devices;
        Topology = topology;
        Replicas = replicas;
        PreStartRequired = preStartRequired;
        SharedDeviceNodes = sharedDeviceNodes.IsDefault ? [] : sharedDeviceNodes;
        Naming = naming;
        DistinctDevices = distinctDevices;
        CdiKind = cdiKind ?? resourceName;
        ConfiguredName = configuredName ?? resourceName;

        var advertised = ImmutableArray.CreateBuilder<AdvertisedDevice>(devices.Length * replicas);
        for (var i = 0; i < devices.Length; i++)
        {
            if (replicas == 1)
            {
                advertised.Add(new AdvertisedDevice(devices[i].Id, i, 0));
            }
            else
            {
                for (var k = 0; k < replicas; k++)
                {
                    advertised.Add(new AdvertisedDevice($"{devices[i].Id}::{k}", i, k));
                }
            }
        }

        Advertised = advertised.MoveToImmutable();
        _byId = Advertised.ToFrozenDictionary(a => a.Id, StringComparer.Ordinal);
    }

    public string ResourceName { get; }

    /// <summary>
    /// The configured resource this snapshot comes from: its own name, or for a resource a source derives from it
    /// (the MIG profiles of an <c>nvml</c> resource with <c>migStrategy: mixed</c>) the name of that entry.
    /// </summary>
    public string ConfiguredName { get; }

    /// <summary>True for a resource a source derives from a configured one rather than one named in the configuration.</summary>
    public bool IsDerived => !string.Equals(ResourceName, ConfiguredName, StringComparison.Ordinal);

    public SourceKind Source { get; }

    /// <summary>Physical devices, in a stable order (sources sort them by ID).</summary>
    public ImmutableArray<PhysicalDevice> Devices { get; }

    /// <summary>Pairwise interconnect between <see cref="Devices"/>.</summary>
    public TopologyMatrix Topology { get; }

    public int Replicas { get; }

    public bool PreStartRequired { get; }

    /// <summary>Device nodes every container of this resource gets (for example <c>/dev/nvidiactl</c>).</summary>
    public ImmutableArray<string> SharedDeviceNodes { get; }

    public DeviceNaming Naming { get; }

    /// <summary>When true, a container request naming two replicas of one device is refused.</summary>
    public bool DistinctDevices { get; }

    /// <summary>The CDI kind (<c>vendor.com/class</c>) used for this resource's CDI device names.</summary>
    public string CdiKind { get; }

    /// <summary>Every ID advertised to the kubelet, replicas expanded, in device order.</summary>
    public ImmutableArray<AdvertisedDevice> Advertised { get; }

    /// <summary>
    /// Node Feature Discovery labels the source gives the node for this resource (<c>domain/name</c> = value; raw
    /// values, sanitised when written). Empty for most resources.
    /// </summary>
    public ImmutableSortedDictionary<string, string> FeatureLabels
    {
        get => _featureLabels;
        init => _featureLabels = value;
    }

    /// <summary>The same snapshot with other feature labels (everything else shared).</summary>
    public ResourceSnapshot WithFeatureLabels(ImmutableSortedDictionary<string, string> labels)
    {
        var copy = (ResourceSnapshot)MemberwiseClone();
        copy._featureLabels = labels;
        return copy;
    }

    public bool TryGet(string id, out AdvertisedDevice device) => _byId.TryGetValue(id, out device);

    /// <summary>Upper-cases the name and turns every character outside A-Z and 0-9 into '_'.</summary>
    public static string UpperSnake(string name) =>
        CharacterMap.Map(name, static c => char.ToUpperInvariant(c) is var u && (u is (>= 'A' and <= 'Z') or (>= '0' and <= '9')) ? u : '_');

    /// <summary>
    /// True when the kubelet would see the same list (IDs, health, NUMA) from both snapshots.
    /// </summary>
    public bool SameDeviceListAs(ResourceSnapshot other)
    {
        if (Replicas != other.Replicas || Devices.Length != other.Devices.Length)
        {
            return false;
        }

        for (var i = 0; i < Devices.Length; i++)
        {
            var a = Devices[i];
            var b = other.Devices[i];
            if (a.Id != b.Id || a.Health != b.Health || a.NumaNode != b.NumaNode)
            {
                return false;
            }
        }

        return true;
    }
}
