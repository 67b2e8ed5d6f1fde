using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>
/// One resource entry as its source's <see cref="ISourceSchema"/> sees it: the mapping, its key for messages
/// (<c>resources[2]</c>), the source's name, and the common settings already read that may bound the source's own
/// (the replica count lengthens every device ID).
/// </summary>
public sealed class SourceEntry(ConfigReader reader, YamlMappingNode node, string key, string source, int replicas)
{
    public ConfigReader Reader { get; } = reader;

    public YamlMappingNode Node { get; } = node;

    /// <summary>The entry's key, <c>resources[N]</c>.</summary>
    public string Key { get; } = key;

    /// <summary>The value of the entry's <c>source</c> key.</summary>
    public string Source { get; } = source;

    public int Replicas { get; } = replicas;

    /// <summary>The value of one of the entry's keys, or null when the entry lacks it.</summary>
    public YamlNode? Get(string key) => Reader.Get(Node, key);

    /// <summary>The full key of one of the entry's keys for messages: <c>resources[N].key</c>.</summary>
    public string KeyOf(string key) => $"{Key}.{key}";

    /// <summary>The error for <paramref name="node"/> under <paramref name="key"/> (a full key, see <see cref="KeyOf"/>).</summary>
    public ConfigException Error(YamlNode node, string key, string problem) => Reader.Error(node, key, problem);
}
