using System.Collections.Immutable;

namespace DevicePlugin.Configuration;

/// <summary>The validated configuration file (or the built-in defaults when there is no <c>--config</c>).</summary>
public sealed record PluginConfig
{
    public ImmutableArray<ResourceConfig> Resources { get; init; } = [];

    public HealthConfig Health { get; init; } = new();

    public CdiConfig Cdi { get; init; } = new();

    /// <summary>True for the built-in defaults: a source that cannot start is then skipped, not an error.</summary>
    public bool IsDefault { get; init; }
}
