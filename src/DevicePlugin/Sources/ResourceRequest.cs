using System.Collections.Immutable;
using DevicePlugin.Configuration;

namespace DevicePlugin.Sources;

/// <summary>
/// One resource a source is asked to serve: its name and the source's own settings from its entry (the type its own
/// schema reads: <see cref="SettingsAs{TSettings}"/>), nothing of the policy (replicas, naming, PreStartContainer,
/// distinctDevices), which the manager joins in without the source. Equal when every field is, so an unchanged
/// request need not reach the source again.
/// </summary>
public sealed record ResourceRequest
{
    public required string Name { get; init; }

    /// <summary>Line of the entry in the config file (0 for built-in defaults), for messages.</summary>
    public int Line { get; init; }

    /// <summary>The source's own settings, as its schema read them.</summary>
    public required ISourceSettings Settings { get; init; }

    /// <summary>
    /// The fixed device nodes the resource's containers get: the <c>pci</c> source counts one missing under
    /// <c>--dev-root</c> as a fault of every device of the resource. (They reach containers through the policy.)
    /// </summary>
    public ImmutableArray<string> ExtraDeviceNodes { get; init; } = [];

    /// <summary>The settings as the type the source's own schema reads.</summary>
    public TSettings SettingsAs<TSettings>() where TSettings : class, ISourceSettings => SourceSettings.As<TSettings>(Settings, Name);

    public static ResourceRequest From(ResourceConfig resource) => new()
    {
        Name = resource.Name,
        Line = resource.Line,
        Settings = resource.Settings,
        ExtraDeviceNodes = resource.ExtraDeviceNodes,
    };

    public bool Equals(ResourceRequest? other) =>
        other is not null
        && Name == other.Name
        && Line == other.Line
        && Settings.Equals(other.Settings)
        && ExtraDeviceNodes.SequenceEqual(other.ExtraDeviceNodes);

    public override int GetHashCode() => HashCode.Combine(Name, Line, Settings, ExtraDeviceNodes.Length);
}
