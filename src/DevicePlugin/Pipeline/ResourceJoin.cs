using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Pipeline;

/// <summary>
/// The one place where what a source publishes meets the configured policy: a <see cref="PublishedResource"/> and its
/// <see cref="ResourcePolicy"/> become the <see cref="ResourceSnapshot"/> the servers, the CDI writer and the metrics use.
/// </summary>
public static class ResourceJoin
{
    public static ResourceSnapshot Join(SourceKind source, PublishedResource published, ResourcePolicy policy)
    {
        var shared = policy.ExtraDeviceNodes.IsDefaultOrEmpty
            ? published.SharedDeviceNodes
            : published.SharedDeviceNodes.IsEmpty
                ? policy.ExtraDeviceNodes
                : [.. published.SharedDeviceNodes.Concat(policy.ExtraDeviceNodes).Distinct(StringComparer.Ordinal)];
        return new ResourceSnapshot(
            published.ResourceName,
            source,
            published.Devices,
            published.Topology,
            policy.Replicas,
            policy.PreStartRequired,
            shared,
            policy.Naming,
            policy.DistinctDevices,
            configuredName: published.ConfiguredName)
        {
            FeatureLabels = published.FeatureLabels?.Invoke(policy) ?? ImmutableSortedDictionary<string, string>.Empty,
        };
    }

    /// <summary>
    /// Joins every published resource whose configured entry has a policy; one without (its entry just left the
    /// configuration, and the source has not published since) is left out.
    /// </summary>
    public static ImmutableArray<ResourceSnapshot> JoinAll(
        SourceKind source, ImmutableArray<PublishedResource> published, IReadOnlyDictionary<string, ResourcePolicy> policies)
    {
        if (published.IsDefaultOrEmpty)
        {
            return [];
        }

        var joined = ImmutableArray.CreateBuilder<ResourceSnapshot>(published.Length);
        foreach (var resource in published)
        {
            if (policies.TryGetValue(resource.ConfiguredName, out var policy))
            {
                joined.Add(Join(source, resource, policy));
            }
        }

        return joined.ToImmutable();
    }
}
