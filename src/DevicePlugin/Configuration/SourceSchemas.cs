using System.Collections.Immutable;

namespace DevicePlugin.Configuration;

/// <summary>
/// The config schemas of the sources a daemon knows, in registration order (composed where sources are registered,
/// <c>DeviceSources</c>): what a resource's <c>source</c> may name and which keys each source reads. Also the entry
/// point to read a configuration file against them.
/// </summary>
public sealed class SourceSchemas
{
    private readonly Dictionary<string, ISourceSchema> _byName = new(StringComparer.Ordinal);

    public SourceSchemas(IEnumerable<ISourceSchema> schemas)
    {
        var all = ImmutableArray.CreateBuilder<ISourceSchema>();
        foreach (var schema in schemas)
        {
            if (!_byName.TryAdd(schema.Kind.Name, schema))
            {
                throw new ArgumentException($"two sources are registered as \"{schema.Kind.Name}\"", nameof(schemas));
            }

            foreach (var key in schema.Keys)
            {
                if (ConfigLoader.CommonResourceKeys.Contains(key, StringComparer.Ordinal))
                {
                    throw new ArgumentException($"the {schema.Kind.Name} source claims the common key \"{key}\"", nameof(schemas));
                }
            }

            all.Add(schema);
        }

        All = all.ToImmutable();
        Names = OneOfNames();
    }

    public ImmutableArray<ISourceSchema> All { get; }

    /// <summary>The known source names for messages: "nvml, pci or simulated".</summary>
    public string Names { get; }

    public ISourceSchema? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The sources (other than <paramref name="except"/>) that read <paramref name="key"/>.</summary>
    public IEnumerable<ISourceSchema> Owning(string key, ISourceSchema? except = null) =>
        All.Where(s => s != except && s.Keys.Contains(key, StringComparer.Ordinal));

    /// <summary>Reads (a regular file, at most 1 MiB, within a timeout) and validates a configuration file.</summary>
    public PluginConfig LoadFile(string path) => ConfigLoader.LoadFile(path, this);

    /// <summary>Validates the bytes of a configuration file (UTF-8).</summary>
    public PluginConfig Parse(byte[] content, string file) => ConfigLoader.Parse(content, file, this);

    public PluginConfig Parse(string yaml, string file) => ConfigLoader.Parse(yaml, file, this);

    private string OneOfNames() => ConfigReader.OneOf([.. All.Select(s => s.Kind.Name)]);
}
