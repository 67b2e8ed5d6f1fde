using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// One physical accelerator as a source last saw it. Immutable: a change produces a new instance in a new snapshot.
/// </summary>
public sealed record PhysicalDevice
{
    /// <summary>Stable ID: the GPU UUID (nvml), the sysfs PCI address (pci) or the configured id (simulated).</summary>
    public required string Id { get; init; }

    public DeviceHealth Health { get; init; } = DeviceHealth.Healthy;

    /// <summary>Why the device is unhealthy (for logs and metrics); null when healthy.</summary>
    public string? UnhealthyReason { get; init; }

    /// <summary>NUMA node, or null when unknown (sysfs -1). Never negative.</summary>
    public int? NumaNode { get; init; }

    /// <summary>Host paths of the device nodes a container needs for this device (container path = host path).</summary>
    public ImmutableArray<string> DeviceNodes { get; init; } = [];

    /// <summary>
    /// Environment entries a container gets for this device, each a variable and this device's value (for example
    /// <c>NVIDIA_VISIBLE_DEVICES</c> = the UUID). Allocate joins the values of one variable over the container's devices
    /// with ',' in request order; a CDI spec gives each device its own variable. Set by the source that knows the vendor.
    /// </summary>
    public ImmutableArray<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>PCI address in sysfs form (<c>0000:3b:00.0</c>), when the device is a PCI function.</summary>
    public string? PciAddress { get; init; }

    /// <summary>
    /// The PCIe path from the root complex down to the device's parent: the names of the sysfs directories
    /// (<c>pci0000:3a</c>, <c>0000:3a:00.0</c>, …). Empty when unknown.
    /// </summary>
    public ImmutableArray<string> PciePath { get; init; } = [];

    /// <summary>Descriptive attributes (model name, memory, driver, …) for logs, metrics and CDI; never parsed.</summary>
    public ImmutableSortedDictionary<string, string> Attributes { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public bool Equals(PhysicalDevice? other) =>
        other is not null
        && Id == other.Id
        && Health == other.Health
        && UnhealthyReason == other.UnhealthyReason
        && NumaNode == other.NumaNode
        && PciAddress == other.PciAddress
        && DeviceNodes.SequenceEqual(other.DeviceNodes)
        && Environment.SequenceEqual(other.Environment)
        && PciePath.SequenceEqual(other.PciePath)
        && Attributes.Count == other.Attributes.Count
        && Attributes.All(kv => other.Attributes.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(Id, Health, NumaNode, PciAddress);
}
