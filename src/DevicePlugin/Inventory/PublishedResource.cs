using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// What a source publishes for one resource: its devices only (identity, health and its cause, topology, and each
/// device's container edits: device nodes and environment entries), the device nodes every container of the
/// resource needs from the vendor (<c>/dev/nvidiactl</c>), and node feature labels. No policy: replicas, naming,
/// PreStartContainer and the configured extra device nodes come from the <see cref="ResourcePolicy"/> the manager
/// joins it with. Immutable.
/// </summary>
public sealed class PublishedResource
{
    public PublishedResource(
        string resourceName,
        ImmutableArray<PhysicalDevice> devices,
        TopologyMatrix? topology = null,
        ImmutableArray<string> sharedDeviceNodes = default,
        string? configuredName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourceName);
        ResourceName = resourceName;
        Devices = devices.IsDefault ? [] : devices;
        Topology = topology;
        SharedDeviceNodes = sharedDeviceNodes.IsDefault ? [] : sharedDeviceNodes;
        ConfiguredName = configuredName ?? resourceName;
    }

    public string ResourceName { get; }

    /// <summary>The configured resource this one comes from: its own name, or the entry a derived resource comes from.</summary>
    public string ConfiguredName { get; }

    /// <summary>Physical devices in a stable order (sources sort them by ID).</summary>
    public ImmutableArray<PhysicalDevice> Devices { get; }

    /// <summary>Pairwise interconnect between <see cref="Devices"/>; null: from their NUMA nodes.</summary>
    public TopologyMatrix? Topology { get; }

    /// <summary>Device nodes every container of the resource needs from the vendor, whatever devices it gets.</summary>
    public ImmutableArray<string> SharedDeviceNodes { get; }

    /// <summary>
    /// Node Feature Discovery labels for the resource (raw values), given the policy it is offered with (some labels
    /// say how a device is shared); null for none. Pure and cheap: it runs when the manager joins, never touching hardware.
    /// </summary>
    public Func<ResourcePolicy, ImmutableSortedDictionary<string, string>>? FeatureLabels { get; init; }
}
