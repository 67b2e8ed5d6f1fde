// Over 300 lines on purpose: the whole config schema is validated in one pass over the YAML tree, so every error
// names its line and key the same way; the per-key rules are small and read best side by side.
using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Api;
using DevicePlugin.Inventory;
using System.Text;
using Google.Protobuf;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>
/// Reads and validates the YAML configuration with YamlDotNet's representation model (reflection-free, AOT-safe, with
/// line numbers). Every problem is a <see cref="ConfigException"/> naming file, line and key; nothing is half-applied.
/// </summary>
public static class ConfigLoader
{
    /// <summary>The deepest nesting of mappings and lists accepted (checked before any document is built).</summary>
    public const int MaxDepth = 64;

    /// <summary>The kubelet's gRPC receive limit, which one ListAndWatch message must fit.</summary>
    public const int MaxListAndWatchBytes = 4 * 1024 * 1024;

    private static readonly string[] TopKeys = ["resources", "health", "cdi"];
    private static readonly string[] ResourceKeys =
        ["name", "source", "replicas", "preStart", "match", "devices", "extraDeviceNodes", "naming", "distinctDevices", "migStrategy"];
    private static readonly string[] MatchKeys = ["vendor", "device", "class", "driver"];
    private static readonly string[] SimulatedDeviceKeys = ["id", "numa", "health"];
    private static readonly string[] HealthKeys = ["ignoredXids", "recoverAfter"];
    private static readonly string[] CdiKeys = ["specDir"];

    /// <summary>Reads (a regular file, at most 1 MiB, within a timeout) and validates the configuration file.</summary>
    public static PluginConfig LoadFile(string path) => Parse(ConfigFileReader.Read(path), path);

    /// <summary>Validates the bytes of a configuration file (UTF-8).</summary>
    public static PluginConfig Parse(byte[] content, string file)
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

        return Parse(text, file);
    }

    public static PluginConfig Parse(string yaml, string file)
    {
        if (Encoding.UTF8.GetByteCount(yaml) > ConfigFileReader.MaxBytes)
        {
            throw new ConfigException(file, 0, "(file)", $"is larger than the limit of 1 MiB ({ConfigFileReader.MaxBytes:N0} bytes)");
        }

        try
        {
            CheckDepth(yaml, file);
            return ParseChecked(yaml, file);
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

    private static PluginConfig ParseChecked(string yaml, string file)
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

        var reader = new Reader(file);
        var root = reader.Mapping(stream.Documents[0].RootNode, "(top level)");
        reader.KnownKeys(root, TopKeys, "");

        var health = reader.Get(root, "health") is { } h ? reader.Health(h) : new HealthConfig();
        var cdi = reader.Get(root, "cdi") is { } c ? reader.Cdi(c) : new CdiConfig();
        var resources = ImmutableArray.CreateBuilder<ResourceConfig>();
        if (reader.Get(root, "resources") is { } list)
        {
            var seq = reader.Sequence(list, "resources");
            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            var index = 0;
            foreach (var item in seq.Children)
            {
                var resource = reader.Resource(item, $"resources[{index}]");
                if (names.TryGetValue(resource.Name, out var firstLine))
                {
                    throw new ConfigException(file, resource.Line, $"resources[{index}].name",
                        $"duplicate resource name \"{ClientText.Quote(resource.Name)}\" (first at line {firstLine})");
                }

                names[resource.Name] = resource.Line;
                resources.Add(resource);
                index++;
            }

            var nvml = resources.Where(r => r.Source == SourceKind.Nvml).ToArray();
            if (nvml.Length > 1)
            {
                throw new ConfigException(file, nvml[1].Line, $"resources[{resources.IndexOf(nvml[1])}].source",
                    $"only one nvml resource is supported (\"{ClientText.Quote(nvml[0].Name)}\" and \"{ClientText.Quote(nvml[1].Name)}\" would advertise the same GPUs twice)");
            }
        }

        return new PluginConfig { Resources = resources.ToImmutable(), Health = health, Cdi = cdi };
    }

    /// <summary>The encoded size of a simulated resource's full ListAndWatchResponse, replicas included.</summary>
    public static long ListAndWatchSizeOf(ResourceConfig resource) => Reader.ListAndWatchSize(resource.Devices, resource.Replicas, long.MaxValue);

    private sealed class Reader(string file)
    {
        public YamlMappingNode Mapping(YamlNode node, string key) =>
            node as YamlMappingNode ?? throw Error(node, key, $"must be a mapping, not {Describe(node)}");

        public YamlSequenceNode Sequence(YamlNode node, string key) =>
            node as YamlSequenceNode ?? throw Error(node, key, $"must be a list, not {Describe(node)}");

        public YamlNode? Get(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

        public void KnownKeys(YamlMappingNode map, string[] known, string prefix)
        {
            foreach (var k in map.Children.Keys)
            {
                var name = (k as YamlScalarNode)?.Value ?? "";
                if (!known.Contains(name, StringComparer.Ordinal))
                {
                    throw Error(k, prefix + name, $"unknown key (expected one of: {string.Join(", ", known)})");
                }
            }
        }

        public string String(YamlNode node, string key)
        {
            if (node is not YamlScalarNode { Value: { } v } || v.Length == 0)
            {
                throw Error(node, key, $"must be a non-empty string, not {Describe(node)}");
            }

            return v;
        }

        public bool Bool(YamlNode node, string key) => String(node, key) switch
        {
            "true" or "True" or "TRUE" => true,
            "false" or "False" or "FALSE" => false,
            var v => throw Error(node, key, $"must be true or false, not \"{ClientText.Quote(v)}\""),
        };

        public long Integer(YamlNode node, string key, long min, long max)
        {
            var text = String(node, key);
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            {
                throw Error(node, key, $"must be a whole number, not \"{ClientText.Quote(text)}\"");
            }

            if (v < min || v > max)
            {
                throw Error(node, key, max == long.MaxValue ? $"must be at least {min}, not {v}" : $"must be between {min} and {max}, not {v}");
            }

            return v;
        }

        public ushort Hex16(YamlNode node, string key)
        {
            var text = String(node, key);
            var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
            if (digits.Length is 0 or > 4 || !ushort.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v))
            {
                throw Error(node, key, $"must be a 16-bit hexadecimal id such as \"0x10de\", not \"{ClientText.Quote(text)}\"");
            }

            return v;
        }

        public ResourceConfig Resource(YamlNode node, string prefix)
        {
            var map = Mapping(node, prefix);
            KnownKeys(map, ResourceKeys, prefix + ".");
            var nameNode = Get(map, "name") ?? throw Error(map, prefix + ".name", "is required");
            var name = String(nameNode, prefix + ".name");
            if (ResourceNames.Validate(name) is { } nameError)
            {
                throw Error(nameNode, prefix + ".name", nameError);
            }

            var sourceNode = Get(map, "source") ?? throw Error(map, prefix + ".source", "is required (nvml, pci or simulated)");
            var sourceText = String(sourceNode, prefix + ".source");
            if (!SourceKindNames.TryParse(sourceText, out var source))
            {
                throw Error(sourceNode, prefix + ".source", $"unknown source \"{ClientText.Quote(sourceText)}\" (expected nvml, pci or simulated)");
            }

            var replicas = Get(map, "replicas") is { } r ? (int)Integer(r, prefix + ".replicas", 1, 1024) : 1;
            var preStart = Get(map, "preStart") is { } p && Bool(p, prefix + ".preStart");
            var distinct = Get(map, "distinctDevices") is { } dd && Bool(dd, prefix + ".distinctDevices");
            var naming = DeviceNaming.Env;
            if (Get(map, "naming") is { } n)
            {
                naming = String(n, prefix + ".naming") switch
                {
                    "env" => DeviceNaming.Env,
                    "cdi" => DeviceNaming.Cdi,
                    "both" => DeviceNaming.Both,
                    var other => throw Error(n, prefix + ".naming", $"must be env, cdi or both, not \"{ClientText.Quote(other)}\""),
                };
            }

            var migStrategy = MigStrategy.None;
            if (Get(map, "migStrategy") is { } ms)
            {
                if (source != SourceKind.Nvml)
                {
                    throw Error(ms, prefix + ".migStrategy", $"applies to nvml resources only, not {sourceText}");
                }

                migStrategy = String(ms, prefix + ".migStrategy") switch
                {
                    "none" => MigStrategy.None,
                    "single" => MigStrategy.Single,
                    "mixed" => MigStrategy.Mixed,
                    var other => throw Error(ms, prefix + ".migStrategy", $"must be none, single or mixed, not \"{ClientText.Quote(other)}\""),
                };
            }

            var match = ImmutableArray<PciMatch>.Empty;
            if (Get(map, "match") is { } m)
            {
                if (source != SourceKind.Pci)
                {
                    throw Error(m, prefix + ".match", $"applies to pci resources only, not {sourceText}");
                }

                match = [.. Sequence(m, prefix + ".match").Children.Select((e, i) => Match(e, $"{prefix}.match[{i}]"))];
            }

            if (source == SourceKind.Pci && match.IsEmpty)
            {
                throw Error(map, prefix + ".match", "a pci resource needs at least one match entry with a vendor");
            }

            var devices = ImmutableArray<SimulatedDeviceConfig>.Empty;
            if (Get(map, "devices") is { } d)
            {
                if (source != SourceKind.Simulated)
                {
                    throw Error(d, prefix + ".devices", $"applies to simulated resources only, not {sourceText}");
                }

                var seen = new HashSet<string>(StringComparer.Ordinal);
                var builder = ImmutableArray.CreateBuilder<SimulatedDeviceConfig>();
                var i = 0;
                foreach (var e in Sequence(d, prefix + ".devices").Children)
                {
                    var device = SimulatedDevice(e, $"{prefix}.devices[{i}]", replicas);
                    if (!seen.Add(device.Id))
                    {
                        throw Error(e, $"{prefix}.devices[{i}].id", $"duplicate device id \"{ClientText.Quote(device.Id)}\"");
                    }

                    builder.Add(device);
                    i++;
                }

                devices = builder.ToImmutable();
            }

            var extra = ImmutableArray<string>.Empty;
            if (Get(map, "extraDeviceNodes") is { } x)
            {
                extra = [.. Sequence(x, prefix + ".extraDeviceNodes").Children.Select((e, i) =>
                {
                    var path = String(e, $"{prefix}.extraDeviceNodes[{i}]");
                    if (!IsNormalisedDevPath(path))
                    {
                        throw Error(e, $"{prefix}.extraDeviceNodes[{i}]",
                            $"must be the absolute, normalised path of a file under /dev (no \".\" or \"..\", no trailing \"/\"), not \"{ClientText.Quote(path)}\"");
                    }

                    return path;
                })];
            }

            if (source == SourceKind.Simulated)
            {
                var size = ListAndWatchSize(devices, replicas, MaxListAndWatchBytes);
                if (size > MaxListAndWatchBytes)
                {
                    throw Error(map, prefix, $"its ListAndWatch message would be {size:N0} bytes ({devices.Length} devices x {replicas} replicas), "
                        + $"more than the kubelet's limit of 4 MiB ({MaxListAndWatchBytes:N0} bytes)");
                }
            }

            return new ResourceConfig
            {
                Name = name,
                Source = source,
                Replicas = replicas,
                PreStart = preStart,
                Match = match,
                Devices = devices,
                ExtraDeviceNodes = extra,
                Naming = naming,
                DistinctDevices = distinct,
                MigStrategy = migStrategy,
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

        /// <summary>The encoded size of the full ListAndWatchResponse for these devices, replicas included.</summary>
        public static long ListAndWatchSize(ImmutableArray<SimulatedDeviceConfig> devices, int replicas, long stopAbove)
        {
            long total = 0;
            static int StringSize(int bytes) => CodedOutputStream.ComputeLengthSize(bytes) + bytes;
            foreach (var d in devices)
            {
                var health = d.Health == DeviceHealth.Healthy ? "Healthy" : "Unhealthy";
                var idBytes = Encoding.UTF8.GetByteCount(d.Id);
                var topology = 0;
                if (d.Numa is { } numa)
                {
                    var node = numa == 0 ? 0 : 1 + CodedOutputStream.ComputeInt64Size(numa);
                    var info = 1 + CodedOutputStream.ComputeLengthSize(node) + node;
                    topology = 1 + CodedOutputStream.ComputeLengthSize(info) + info;
                }

                for (var k = 0; k < replicas; k++)
                {
                    // "<id>::<k>" with replicas, else "<id>": its length without formatting it.
                    var id = replicas > 1 ? idBytes + 2 + (k < 10 ? 1 : k < 100 ? 2 : k < 1000 ? 3 : 4) : idBytes;
                    var device = 1 + StringSize(id) + 1 + StringSize(health.Length) + topology;
                    total += 1 + CodedOutputStream.ComputeLengthSize(device) + device;
                }

                if (total > stopAbove)
                {
                    break;
                }
            }

            return total;
        }

        private PciMatch Match(YamlNode node, string prefix)
        {
            var map = Mapping(node, prefix);
            KnownKeys(map, MatchKeys, prefix + ".");
            var vendor = Get(map, "vendor") ?? throw Error(map, prefix + ".vendor", "is required");
            return new PciMatch
            {
                Vendor = Hex16(vendor, prefix + ".vendor"),
                Device = Get(map, "device") is { } d ? Hex16(d, prefix + ".device") : null,
                Class = Get(map, "class") is { } c ? Hex16(c, prefix + ".class") : null,
                Driver = Get(map, "driver") is { } drv ? String(drv, prefix + ".driver") : null,
            };
        }

        private SimulatedDeviceConfig SimulatedDevice(YamlNode node, string prefix, int replicas)
        {
            var map = Mapping(node, prefix);
            KnownKeys(map, SimulatedDeviceKeys, prefix + ".");
            var idNode = Get(map, "id") ?? throw Error(map, prefix + ".id", "is required");
            var id = String(idNode, prefix + ".id");
            if (id.Contains("::", StringComparison.Ordinal) || id.Contains(',', StringComparison.Ordinal))
            {
                throw Error(idNode, prefix + ".id", $"\"{ClientText.Quote(id)}\" must not contain \"::\" or \",\" (they separate replicas and list entries)");
            }

            // The limit applies to every ID the kubelet is given, so the longest replica suffix counts: a longer
            // advertised ID would be refused by this plugin's own Allocate (INVALID_ARGUMENT past the same limit).
            var longest = replicas > 1 ? $"{id}::{replicas - 1}" : id;
            if (longest.Length > ClientText.MaxDeviceIdLength)
            {
                var what = longest.Length == id.Length ? "it" : $"with its replica suffix (\"::{replicas - 1}\") it";
                throw Error(idNode, prefix + ".id", $"\"{ClientText.Quote(id)}\" is too long: {what} has {longest.Length} characters; a device ID is at most {ClientText.MaxDeviceIdLength} characters");
            }

            var health = DeviceHealth.Healthy;
            if (Get(map, "health") is { } h)
            {
                health = String(h, prefix + ".health") switch
                {
                    "Healthy" => DeviceHealth.Healthy,
                    "Unhealthy" => DeviceHealth.Unhealthy,
                    var other => throw Error(h, prefix + ".health", $"must be Healthy or Unhealthy, not \"{ClientText.Quote(other)}\""),
                };
            }

            return new SimulatedDeviceConfig
            {
                Id = id,
                Numa = Get(map, "numa") is { } n ? (int)Integer(n, prefix + ".numa", 0, 1023) : null,
                Health = health,
            };
        }

        public HealthConfig Health(YamlNode node)
        {
            var map = Mapping(node, "health");
            KnownKeys(map, HealthKeys, "health.");
            var config = new HealthConfig();
            if (Get(map, "ignoredXids") is { } x)
            {
                config = config with
                {
                    IgnoredXids = [.. Sequence(x, "health.ignoredXids").Children.Select((e, i) =>
                        (ulong)Integer(e, $"health.ignoredXids[{i}]", 0, long.MaxValue))],
                };
            }

            if (Get(map, "recoverAfter") is { } r)
            {
                var text = String(r, "health.recoverAfter");
                if (!DurationParser.TryParse(text, out var value))
                {
                    throw Error(r, "health.recoverAfter", $"must be a duration such as 5m, 30s or 0 (never), not \"{ClientText.Quote(text)}\"");
                }

                config = config with { RecoverAfter = value };
            }

            return config;
        }

        public CdiConfig Cdi(YamlNode node)
        {
            var map = Mapping(node, "cdi");
            KnownKeys(map, CdiKeys, "cdi.");
            if (Get(map, "specDir") is not { } s)
            {
                return new CdiConfig();
            }

            var dir = String(s, "cdi.specDir");
            if (!Path.IsPathRooted(dir))
            {
                throw Error(s, "cdi.specDir", $"must be an absolute path, not \"{ClientText.Quote(dir)}\"");
            }

            return new CdiConfig { SpecDirectory = dir };
        }

        private ConfigException Error(YamlNode node, string key, string problem) =>
            new(file, (int)node.Start.Line, key, problem);

        private static string Describe(YamlNode node) => node switch
        {
            YamlScalarNode { Value: null or "" } => "an empty value",
            YamlScalarNode s => $"\"{ClientText.Quote(s.Value)}\"",
            YamlSequenceNode => "a list",
            _ => "a mapping",
        };
    }
}
