using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Configuration;

/// <summary>The validated configuration file (or the built-in defaults when there is no <c>--config</c>).</summary>
public sealed record PluginConfig
{
    public ImmutableArray<ResourceConfig> Resources
    {
        get;
        init
        {
            field = value;
            Policies = PoliciesOf(value);
        }
    } = [];

    /// <summary>
    /// Each configured resource's policy by name, built once with <see cref="Resources"/>: what the manager joins with
    /// the devices a source publishes (for a derived resource, the policy of the entry it comes from).
    /// </summary>
    public ImmutableDictionary<string, ResourcePolicy> Policies { get; private init; } = ImmutableDictionary<string, ResourcePolicy>.Empty;

    public HealthConfig Health { get; init; } = new();

    public CdiConfig Cdi { get; init; } = new();

    /// <summary>True for the built-in defaults: a source that cannot start is then skipped, not an error.</summary>
    public bool IsDefault { get; init; }

    private static ImmutableDictionary<string, ResourcePolicy> PoliciesOf(ImmutableArray<ResourceConfig> resources)
    {
        var policies = ImmutableDictionary.CreateBuilder<string, ResourcePolicy>(StringComparer.Ordinal);
        foreach (var resource in resources.IsDefault ? [] : resources)
        {
            // Validation keeps names unique; should one slip through, the first entry's policy holds, as its devices do.
            policies.TryAdd(resource.Name, resource.Policy);
        }

        return policies.ToImmutable();
    }
}
