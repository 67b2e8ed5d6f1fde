using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Configuration;

/// <summary>
/// A source's part of the configuration file, owned by the source: its kind (the value of <c>source</c>), the keys a
/// resource entry of that kind may hold besides the common ones (<see cref="ConfigLoader.CommonResourceKeys"/>), and
/// how they are read. <see cref="ConfigLoader"/> reads the common keys and hands the entry to the schema of its source.
/// </summary>
public interface ISourceSchema
{
    SourceKind Kind { get; }

    /// <summary>The source's own keys of a resource entry; any other key that is not a common one is refused.</summary>
    ImmutableArray<string> Keys { get; }

    /// <summary>
    /// Reads and validates the source's keys of one entry. A problem throws the <see cref="ConfigException"/> of
    /// <see cref="SourceEntry.Error(YamlDotNet.RepresentationModel.YamlNode, string, string)"/>, naming file, line and key.
    /// </summary>
    ISourceSettings Parse(SourceEntry entry);

    /// <summary>Checks the kind's resources of one file together (for example: at most one); none by default.</summary>
    void CheckResources(ConfigReader reader, IReadOnlyList<ResourceEntry> resources)
    {
    }
}

/// <summary>A resource of the file with the key its entry has (<c>resources[2]</c>), for messages.</summary>
public sealed record ResourceEntry(string Key, ResourceConfig Resource);
