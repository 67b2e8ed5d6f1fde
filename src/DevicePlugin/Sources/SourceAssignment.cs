using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>
/// Everything a source is told: the resources of its kind (in configuration order), the health settings, and
/// whether these are the built-in defaults (a default resource without devices is not published). Built from the
/// configuration by the daemon; a source never sees the configuration itself. Equal when every part is: a change to
/// the configuration that leaves a kind's assignment equal (replicas, naming, PreStartContainer) does not call it.
/// </summary>
public sealed record SourceAssignment
{
    public static SourceAssignment None { get; } = new();

    public ImmutableArray<ResourceRequest> Resources { get; init; } = [];

    public HealthConfig Health { get; init; } = new();

    public bool IsDefault { get; init; }

    /// <summary>The part of <paramref name="config"/> for the sources of <paramref name="kind"/>.</summary>
    public static SourceAssignment For(SourceKind kind, PluginConfig config) => new()
    {
        Resources = [.. config.Resources.Where(r => r.Source == kind).Select(ResourceRequest.From)],
        Health = config.Health,
        IsDefault = config.IsDefault,
    };

    public bool Equals(SourceAssignment? other) =>
        other is not null
        && IsDefault == other.IsDefault
        && Health.Equals(other.Health)
        && Resources.SequenceEqual(other.Resources);

    public override int GetHashCode() => HashCode.Combine(IsDefault, Health, Resources.Length);
}
