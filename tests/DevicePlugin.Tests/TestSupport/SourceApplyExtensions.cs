using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Sources;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>Applies configuration entries to a source as the daemon does: only its kind's part, never the policy.</summary>
public static class SourceApplyExtensions
{
    public static Task ApplyAsync(this IDeviceSource source, ImmutableArray<ResourceConfig> resources, PluginConfig config,
        CancellationToken cancellationToken) =>
        source.ApplyAsync(SourceAssignment.For(source.Kind, config with { Resources = resources }), cancellationToken);
}
