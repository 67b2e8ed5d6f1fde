// Over 300 lines on purpose: the whole config schema is validated in one pass over the YAML tree, so every error
// names its line and key the same way; the per-key rules are small and read best side by side.
using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Api;
using DevicePlugin.Inventory;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>
/// Reads and validates the YAML configuration with YamlDotNet's representation model (reflection-free, AOT-safe, with
/// line numbers). Every problem is a <see cref="ConfigException"/> naming file, line and key; nothing is half-applied.
/// </summary>
public static class ConfigLoader
{
    private static readonly string[] TopKeys = ["resources", "health", "cdi"];
    private static readonly string[] ResourceKeys =
        ["name", "source", "replicas", "preStart", "match", "devices", "extraDeviceNodes", "naming", "distinctDevices", "migStrategy"];
    private static readonly string[] MatchKeys = ["vendor", "device", "class", "driver"];
    private static readonly string[] SimulatedDeviceKeys = ["id", "numa", "health"];
    private static readonly string[] HealthKeys = ["ignoredXids", "recoverAfter"];
    private static readonly string[] CdiKeys = ["specDir"];

    public static PluginConfig LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, 0, "(file)", $"cannot be read: {e.Message}");
        }

        return Parse(text, path);
    }

    public static PluginConfig Parse(string yaml, string file)
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
            return new PluginConfig();
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
                        $"duplicate resource name \"{resource.Name}\" (first at line {firstLine})");
                }

                names[resource.Name] = resource.Line;
                resources.Add(resource);
                index++;
            }

            var nvml = resources.Where(r => r.Source == SourceKind.Nvml).ToArray();
            if (nvml.Length > 1)
            {
                throw new ConfigException(file, nvml[1].Line, "source",
                    $"only one nvml resource is supported (\"{nvml[0].Name}\" and \"{nvml[1].Name}\" would advertise the same GPUs twice)");
            }
        }

        return new PluginConfig { Resources = resources.ToImmutable(), Health = health, Cdi = cdi };
    }

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
            var v => throw Error(node, key, $"must be true or false, not \"{v}\""),
        };

        public long Integer(YamlNode node, string key, long min, long max)
        {
            var text = String(node, key);
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            {
                throw Error(node, key, $"must be a whole number, not \"{text}\"");
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
                throw Error(node, key, $"must be a 16-bit hexadecimal id such as \"0x10de\", not \"{text}\"");
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
                throw Error(sourceNode, prefix + ".source", $"unknown source \"{sourceText}\" (expected nvml, pci or simulated)");
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
                    var other => throw Error(n, prefix + ".naming", $"must be env, cdi or both, not \"{other}\""),
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
                    var other => throw Error(ms, prefix + ".migStrategy", $"must be none, single or mixed, not \"{other}\""),
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
                        throw Error(e, $"{prefix}.devices[{i}].id", $"duplicate device id \"{device.Id}\"");
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
                    if (!path.StartsWith("/dev/", StringComparison.Ordinal) || path.Contains("/../", StringComparison.Ordinal))
                    {
                        throw Error(e, $"{prefix}.extraDeviceNodes[{i}]", $"must be an absolute path under /dev, not \"{path}\"");
                    }

                    return path;
                })];
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
            var longest = replicas > 1 ? $"{id}::{replicas - 1}" : id;
            if (longest.Length > 63 || id.Contains("::", StringComparison.Ordinal) || id.Contains(',', StringComparison.Ordinal))
            {
                throw Error(idNode, prefix + ".id", $"\"{id}\" must be at most 63 characters with its replica suffix and contain no \"::\" or \",\"");
            }

            var health = DeviceHealth.Healthy;
            if (Get(map, "health") is { } h)
            {
                health = String(h, prefix + ".health") switch
                {
                    "Healthy" => DeviceHealth.Healthy,
                    "Unhealthy" => DeviceHealth.Unhealthy,
                    var other => throw Error(h, prefix + ".health", $"must be Healthy or Unhealthy, not \"{other}\""),
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
                    throw Error(r, "health.recoverAfter", $"must be a duration such as 5m, 30s or 0 (never), not \"{text}\"");
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
                throw Error(s, "cdi.specDir", $"must be an absolute path, not \"{dir}\"");
            }

            return new CdiConfig { SpecDirectory = dir };
        }

        private ConfigException Error(YamlNode node, string key, string problem) =>
            new(file, (int)node.Start.Line, key, problem);

        private static string Describe(YamlNode node) => node switch
        {
            YamlScalarNode { Value: null or "" } => "an empty value",
            YamlScalarNode s => $"\"{s.Value}\"",
            YamlSequenceNode => "a list",
            _ => "a mapping",
        };
    }
}
