using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// How one configured resource is offered to the kubelet, whatever its devices: replicas, PreStartContainer, how
/// Allocate names devices, whether replicas of one device may share a container, and the fixed device nodes every
/// container gets. Built once from the configuration; the manager joins it with the devices a source publishes
/// (<see cref="PublishedResource"/>) into the <see cref="ResourceSnapshot"/> the servers use. Sources never see it.
/// </summary>
public sealed record ResourcePolicy
{
    /// <summary>The configuration's defaults: one ID per device, no PreStartContainer, env naming.</summary>
    public static ResourcePolicy Default { get; } = new();

    public int Replicas { get; init; } = 1;

    public bool PreStartRequired { get; init; }

    public DeviceNaming Naming { get; init; } = DeviceNaming.Env;

    /// <summary>Refuse a container request for more than one replica of the same device.</summary>
    public bool DistinctDevices { get; init; }

    /// <summary>Fixed device nodes every container of the resource gets, after the source's shared nodes.</summary>
    public ImmutableArray<string> ExtraDeviceNodes { get; init; } = [];

    public bool Equals(ResourcePolicy? other) =>
        other is not null
        && Replicas == other.Replicas
        && PreStartRequired == other.PreStartRequired
        && Naming == other.Naming
        && DistinctDevices == other.DistinctDevices
        && ExtraDeviceNodes.SequenceEqual(other.ExtraDeviceNodes);

    public override int GetHashCode() => HashCode.Combine(Replicas, PreStartRequired, Naming, DistinctDevices, ExtraDeviceNodes.Length);
}
