using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Configuration;

/// <summary>One entry of <c>resources:</c>.</summary>
public sealed record ResourceConfig
{
    /// <summary>Extended resource name, <c>domain/name</c>.</summary>
    public required string Name { get; init; }

    public required SourceKind Source { get; init; }

    /// <summary>The source's own keys of the entry, read by its <see cref="ISourceSchema"/>; only that source reads them.</summary>
    public required ISourceSettings Settings { get; init; }

    public int Replicas { get; init; } = 1;

    public bool PreStart { get; init; }

    /// <summary>Fixed device nodes every container of this resource gets (for example <c>/dev/kfd</c>).</summary>
    public ImmutableArray<string> ExtraDeviceNodes { get; init; } = [];

    public DeviceNaming Naming { get; init; } = DeviceNaming.Env;

    /// <summary>Refuse a container request for more than one replica of the same device.</summary>
    public bool DistinctDevices { get; init; }

    /// <summary>Line of the entry in the config file (0 for built-in defaults), for messages.</summary>
    public int Line { get; init; }

    /// <summary>The source's settings as the type its schema reads (see <see cref="SourceSettings.As{TSettings}"/>).</summary>
    public TSettings SettingsAs<TSettings>() where TSettings : class, ISourceSettings => SourceSettings.As<TSettings>(Settings, Name);

    /// <summary>The entry's policy: how its devices are offered, whatever the source.</summary>
    public ResourcePolicy Policy => new()
    {
        Replicas = Replicas,
        PreStartRequired = PreStart,
        Naming = Naming,
        DistinctDevices = DistinctDevices,
        ExtraDeviceNodes = ExtraDeviceNodes,
    };
}
