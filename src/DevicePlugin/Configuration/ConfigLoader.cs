using System.Collections.Immutable;
using DevicePlugin.Api;
using DevicePlugin.Inventory;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>
/// Reads and validates the YAML configuration with YamlDotNet's representation model (reflection-free, AOT-safe, with
/// line numbers). Every problem is a <see cref="ConfigException"/> naming file, line and key; nothing is half-applied.
/// This reads the top level and the common keys of each resource; the rest of a resource's entry belongs to the
/// <see cref="ISourceSchema"/> of its source, from the <see cref="SourceSchemas"/> given.
/// </summary>
public static class ConfigLoader
{
    /// <summary>The deepest nesting of mappings and lists accepted (checked before any document is built).</summary>
    public const int MaxDepth = 64;

    /// <summary>The kubelet's gRPC receive limit, which one ListAndWatch message must fit.</summary>
    public const int MaxListAndWatchBytes = 4 * 1024 * 1024;

    private static readonly string[] TopKeys = ["resources", "health", "cdi"];

    /// <summary>The keys every resource entry may hold, whatever its source; a source's schema adds its own.</summary>
    public static ImmutableArray<string> CommonResourceKeys { get; } =
        ["name", "source", "replicas", "preStart", "naming", "distinctDevices", "extraDeviceNodes"];


    /// <summary>Reads (a regular file, at most 1 MiB, within a timeout) and validates the configuration file.</summary>
    public static PluginConfig LoadFile(string path, SourceSchemas sources) => Parse(ConfigFileReader.Read(path), path, sources);

    /// <summary>Validates the bytes of a configuration file (UTF-8).</summary>
    public static PluginConfig Parse(byte[] content, string file, SourceSchemas sources)
    {
        if (content.Length > ConfigFileReader.MaxBytes)
        {
            throw new ConfigException(file, 0, "(file)", $"is larger than the limit of 1 MiB ({ConfigFileReader.MaxBytes:N0} bytes)");
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            throw new ConfigException(file, 0, "(file)", "is not UTF-8 text");
        }

        return Parse(text, file, sources);
    }

    public static PluginConfig Parse(string yaml, string file, SourceSchemas sources)
    {
        if (Encoding.UTF8.GetByteCount(yaml) > ConfigFileReader.MaxBytes)
        {
            throw new ConfigException(file, 0, "(file)", $"is larger than the limit of 1 MiB ({ConfigFileReader.MaxBytes:N0} bytes)");
        }

        try
        {
            CheckDepth(yaml, file);
            return ParseChecked(yaml, file, sources);
        }
        catch (ConfigException)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever else the YAML library or the checks throw is still a refused file, never a crash.
            throw new ConfigException(file, 0, "(file)", $"could not be read as a configuration: {e.Message}");
        }
    }

    /// <summary>
    /// Walks the parser's events (an iterative state machine) and stops at the first level past <see cref="MaxDepth"/>,
    /// before the representation model, which builds nodes recursively, sees the document.
    /// </summary>
    private static void CheckDepth(string yaml, string file)
    {
        var parser = new Parser(new StringReader(yaml));
        var depth = 0;
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        if (++depth > MaxDepth)
                        {
                            throw new ConfigException(file, (int)parser.Current.Start.Line, "(structure)",
                                $"mappings and lists nest deeper than the limit of {MaxDepth} levels");
                        }

                        break;
                    case MappingEnd or SequenceEnd:
                        depth--;
                        break;
                }
            }
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, "(syntax)", e.Message);
        }
    }

    private static PluginConfig ParseChecked(string yaml, string file, SourceSchemas sources)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, "(syntax)", e.Message);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            // An editor that truncates before writing leaves this for a moment: never read it as "no resources".
            throw new ConfigException(file, 0, "(file)", "is empty or holds only comments (write \"resources: []\" to advertise nothing)");
        }

        var reader = new ConfigReader(file);
        var root = reader.Mapping(stream.Documents[0].RootNode, "(top level)");
        reader.KnownKeys(root, TopKeys, "");

        var health = reader.Get(root, "health") is { } h ? HealthConfig.Read(reader, h) : new HealthConfig();
        var cdi = reader.Get(root, "cdi") is { } c ? CdiConfig.Read(reader, c) : new CdiConfig();
        var resources = ImmutableArray.CreateBuilder<ResourceConfig>();
        if (reader.Get(root, "resources") is { } list)
        {
            var seq = reader.Sequence(list, "resources");
            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            var entries = new List<ResourceEntry>();
            foreach (var item in seq.Children)
            {
                var key = $"resources[{entries.Count}]";
                var resource = Resource(reader, sources, item, key);
                if (names.TryGetValue(resource.Name, out var firstLine))
                {
                    throw new ConfigException(file, resource.Line, key + ".name",
                        $"duplicate resource name \"{ClientText.Quote(resource.Name)}\" (first at line {firstLine})");
                }

                names[resource.Name] = resource.Line;
                resources.Add(resource);
                entries.Add(new ResourceEntry(key, resource));
            }

            foreach (var schema in sources.All)
            {
                var ofKind = entries.Where(e => e.Resource.Source == schema.Kind).ToArray();
                if (ofKind.Length > 0)
                {
                    schema.CheckResources(reader, ofKind);
                }
            }
        }

        return new PluginConfig { Resources = resources.ToImmutable(), Health = health, Cdi = cdi };
    }

    private static ResourceConfig Resource(ConfigReader reader, SourceSchemas sources, YamlNode node, string prefix)
    {
        var map = reader.Mapping(node, prefix);
        var sourceNode = reader.Get(map, "source");
        var schema = sourceNode is YamlScalarNode { Value: { } named } ? sources.Find(named) : null;

        // A key no source reads is unknown whatever the source; the list names what this entry may hold.
        foreach (var k in map.Children.Keys)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (!CommonResourceKeys.Contains(key, StringComparer.Ordinal) && !sources.Owning(key).Any())
            {
                var known = schema is null ? CommonResourceKeys.Concat(sources.All.SelectMany(s => s.Keys).Distinct(StringComparer.Ordinal)) : CommonResourceKeys.Concat(schema.Keys);
                throw reader.UnknownKey(k, $"{prefix}.{key}", known);
            }
        }

        var nameNode = reader.Get(map, "name") ?? throw reader.Error(map, prefix + ".name", "is required");
        var name = reader.Text(nameNode, prefix + ".name");
        if (ResourceNames.Validate(name) is { } nameError)
        {
            throw reader.Error(nameNode, prefix + ".name", nameError);
        }

        if (sourceNode is null)
        {
            throw reader.Error(map, prefix + ".source", $"is required ({sources.Names})");
        }

        var sourceText = reader.Text(sourceNode, prefix + ".source");
        if (schema is null)
        {
            throw reader.Error(sourceNode, prefix + ".source", $"unknown source \"{ClientText.Quote(sourceText)}\" (expected {sources.Names})");
        }

        var replicas = reader.Get(map, "replicas") is { } r ? (int)reader.Number(r, prefix + ".replicas", 1, 1024) : 1;
        var preStart = reader.Get(map, "preStart") is { } p && reader.Bool(p, prefix + ".preStart");
        var distinct = reader.Get(map, "distinctDevices") is { } dd && reader.Bool(dd, prefix + ".distinctDevices");
        var naming = reader.Get(map, "naming") is { } n
            ? reader.Choice(n, prefix + ".naming", ("env", DeviceNaming.Env), ("cdi", DeviceNaming.Cdi), ("both", DeviceNaming.Both))
            : DeviceNaming.Env;

        var extra = ImmutableArray<string>.Empty;
        if (reader.Get(map, "extraDeviceNodes") is { } x)
        {
            extra = [.. reader.Sequence(x, prefix + ".extraDeviceNodes").Children.Select((e, i) =>
            {
                var path = reader.Text(e, $"{prefix}.extraDeviceNodes[{i}]");
                if (!IsNormalisedDevPath(path))
                {
                    throw reader.Error(e, $"{prefix}.extraDeviceNodes[{i}]",
                        $"must be the absolute, normalised path of a file under /dev (no \".\" or \"..\", no trailing \"/\"), not \"{ClientText.Quote(path)}\"");
                }

                return path;
            })];
        }

        // Another source's key: say whose it is.
        foreach (var (k, value) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (!CommonResourceKeys.Contains(key, StringComparer.Ordinal) && !schema.Keys.Contains(key, StringComparer.Ordinal))
            {
                var owners = ConfigReader.OneOf([.. sources.Owning(key, schema).Select(s => s.Kind.Name)]);
                throw reader.Error(value, $"{prefix}.{key}", $"applies to {owners} resources only, not {sourceText}");
            }
        }

        var settings = schema.Parse(new SourceEntry(reader, map, prefix, sourceText, replicas));
        return new ResourceConfig
        {
            Name = name,
            Source = schema.Kind,
            Settings = settings,
            Replicas = replicas,
            PreStart = preStart,
            ExtraDeviceNodes = extra,
            Naming = naming,
            DistinctDevices = distinct,
            Line = (int)map.Start.Line,
        };
    }

    private static bool IsNormalisedDevPath(string path) =>
        path.StartsWith("/dev/", StringComparison.Ordinal)
        && path.Length > "/dev/".Length
        && !path.EndsWith('/')
        && !path.Contains("//", StringComparison.Ordinal)
        && !path.Contains('\0', StringComparison.Ordinal)
        && path.Split('/').All(segment => segment is not ("." or ".."));
}
