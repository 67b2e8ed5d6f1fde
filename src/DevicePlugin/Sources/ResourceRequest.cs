using System.Collections.Immutable;
using DevicePlugin.Configuration;

namespace DevicePlugin.Sources;

/// <summary>
/// One resource a source is asked to serve: its name and the source's own settings from its entry, nothing of the
/// policy (replicas, naming, PreStartContainer, distinctDevices), which the manager joins in without the source.
/// Equal when every field is, so an unchanged request need not reach the source again.
/// </summary>
public sealed record ResourceRequest
{
    public required string Name { get; init; }

    /// <summary>Line of the entry in the config file (0 for built-in defaults), for messages.</summary>
    public int Line { get; init; }

    /// <summary><c>pci</c>: selectors; a device belongs to the resource when any entry matches.</summary>
    public ImmutableArray<PciMatch> Match { get; init; } = [];

    /// <summary><c>simulated</c>: the devices.</summary>
    public ImmutableArray<SimulatedDeviceConfig> Devices { get; init; } = [];

    /// <summary><c>nvml</c>: how GPUs in MIG mode are advertised.</summary>
    public MigStrategy MigStrategy { get; init; }

    /// <summary>
    /// The fixed device nodes the resource's containers get: the <c>pci</c> source counts one missing under
    /// <c>--dev-root</c> as a fault of every device of the resource. (They reach containers through the policy.)
    /// </summary>
    public ImmutableArray<string> ExtraDeviceNodes { get; init; } = [];

    public static ResourceRequest From(ResourceConfig resource) => new()
    {
        Name = resource.Name,
        Line = resource.Line,
        Match = resource.Match,
        Devices = resource.Devices,
        MigStrategy = resource.MigStrategy,
        ExtraDeviceNodes = resource.ExtraDeviceNodes,
    };

    public bool Equals(ResourceRequest? other) =>
        other is not null
        && Name == other.Name
        && Line == other.Line
        && MigStrategy == other.MigStrategy
        && Match.SequenceEqual(other.Match)
        && Devices.SequenceEqual(other.Devices)
        && ExtraDeviceNodes.SequenceEqual(other.ExtraDeviceNodes);

    public override int GetHashCode() => HashCode.Combine(Name, Line, MigStrategy, Match.Length, Devices.Length);
}
