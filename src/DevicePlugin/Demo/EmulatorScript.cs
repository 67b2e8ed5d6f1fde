using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Demo;

/// <summary>One step of a kubelet emulator script (see <see cref="EmulatorScript"/>).</summary>
public sealed record ScriptStep(string Kind, int Line)
{
    public string? Resource { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
    public int? Count { get; init; }
    public int? Healthy { get; init; }
    public string? Device { get; init; }
    public string? Health { get; init; }
    public PodSpec? Pod { get; init; }
    public bool ExpectRefused { get; init; }
    public string? Path { get; init; }
    public string? Content { get; init; }
    public string? PodName { get; init; }
    public string Namespace { get; init; } = "default";
    public string? Container { get; init; }

    public string Describe() => Kind + (Resource is not null ? $" {Resource}" : "") + (Pod is not null ? $" {Pod.Namespace}/{Pod.Name}" : "")
        + (PodName is not null ? $" {Namespace}/{PodName}" : "") + (Device is not null ? $" {Device}" : "") + (Path is not null ? $" {Path}" : "");
}

/// <summary>
/// A YAML script for <c>device-plugin kubelet-emulator --script</c>: <c>steps:</c>, a list of one-key mappings.
/// <code>
/// steps:
///   - wait-for-registration: example.com/gpu            # and its first list; or {resource, timeout}; after a restart: a new one
///   - expect-devices: {resource: example.com/gpu, count: 4, healthy: 4, timeout: 10s}
///   - expect-health: {resource: example.com/gpu, device: sim-2, health: Unhealthy}
///   - expect-gone: {resource: example.com/gpu}             # its stream ended and its socket was removed
///   - admit-pod: {name: p, namespace: default, initContainers: [{name: i, limits: {example.com/gpu: 1}}],
///                 containers: [{name: main, limits: {example.com/gpu: 2}}], expectRefused: false}
///   - restart-container: {pod: p, container: main}
///   - remove-pod: {name: p}
///   - write-file: {path: config.yaml, content: "…"}    # relative to the script's directory
///   - restart-kubelet: {}
///   - wait: 500ms
/// </code>
/// </summary>
public static class EmulatorScript
{
    public const int MaxBytes = 1024 * 1024;

    public static readonly IReadOnlyList<string> Kinds =
        ["wait-for-registration", "expect-devices", "expect-health", "expect-gone", "admit-pod", "restart-container", "remove-pod", "write-file", "restart-kubelet", "wait"];

    /// <summary>Reads and checks a script; a problem is a <see cref="ConfigException"/> naming the file, line and what is wrong.</summary>
    public static IReadOnlyList<ScriptStep> Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new ConfigException($"script {path} does not exist");
        }

        if (info.Length > MaxBytes)
        {
            throw new ConfigException($"script {path} is {info.Length} bytes (at most {MaxBytes})");
        }

        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var stream = new YamlStream();
        try
        {
            using var reader = new StringReader(File.ReadAllText(path));
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new ConfigException($"script {path} line {e.Start.Line}: {e.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("steps"), out var stepsNode) || stepsNode is not YamlSequenceNode steps)
        {
            throw new ConfigException($"script {path}: expected a mapping with a \"steps\" list");
        }

        if (root.Children.Keys.OfType<YamlScalarNode>().FirstOrDefault(k => k.Value != "steps") is { } extra)
        {
            throw new ConfigException($"script {path} line {extra.Start.Line}: unknown key \"{extra.Value}\" (only steps)");
        }

        return steps.Children.Select(s => Step(path, baseDir, s)).ToArray();
    }

    private static ScriptStep Step(string file, string baseDir, YamlNode node)
    {
        var line = (int)node.Start.Line;
        ConfigException Error(string what, YamlNode? at = null) => new($"script {file} line {(at ?? node).Start.Line}: {what}");
        if (node is not YamlMappingNode map || map.Children.Count != 1 || map.Children.Keys.Single() is not YamlScalarNode { Value: { } kind })
        {
            throw Error($"a step is a mapping with one key, the step's kind ({string.Join(", ", Kinds)})");
        }

        var body = map.Children.Values.Single();
        var step = new ScriptStep(kind, line);
        var fields = body switch
        {
            YamlMappingNode m => m.Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value ?? "", e => e.Value, StringComparer.Ordinal),
            YamlScalarNode { Value: null or "" } => [],
            YamlScalarNode s when kind is "wait-for-registration" or "wait" or "remove-pod" =>
                new Dictionary<string, YamlNode>(StringComparer.Ordinal) { [kind switch { "wait" => "duration", "remove-pod" => "name", _ => "resource" }] = s },
            _ => throw Error($"{kind} takes a mapping of its fields"),
        };

        string? Text(string key, bool required = false)
        {
            if (!fields.TryGetValue(key, out var value))
            {
                return required ? throw Error($"{kind} needs \"{key}\"") : null;
            }

            return value is YamlScalarNode { Value: { } v } ? v : throw Error($"{kind}: \"{key}\" must be a single value", value);
        }

        int? Number(string key)
        {
            var text = Text(key);
            if (text is null)
            {
                return null;
            }

            return int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : throw Error($"{kind}: \"{key}\" must be a count, not \"{text}\"");
        }

        TimeSpan Duration(string key, TimeSpan fallback)
        {
            var text = Text(key);
            if (text is null)
            {
                return fallback;
            }

            return DurationParser.TryParse(text, out var d) && d >= TimeSpan.Zero && d <= TimeSpan.FromHours(1)
                ? d : throw Error($"{kind}: \"{key}\" must be a duration such as 500ms, 5s or 1m, not \"{text}\"");
        }

        string[] Allowed(params string[] keys)
        {
            if (fields.Keys.FirstOrDefault(k => !keys.Contains(k)) is { } unknown)
            {
                throw Error($"{kind}: unknown field \"{unknown}\" (fields: {string.Join(", ", keys)})");
            }

            return keys;
        }

        switch (kind)
        {
            case "wait-for-registration":
                Allowed("resource", "timeout");
                return step with { Resource = Text("resource", true), Timeout = Duration("timeout", step.Timeout) };
            case "expect-devices":
                Allowed("resource", "count", "healthy", "timeout");
                var expected = step with { Resource = Text("resource", true), Count = Number("count"), Healthy = Number("healthy"), Timeout = Duration("timeout", step.Timeout) };
                return expected.Count is null && expected.Healthy is null ? throw Error("expect-devices needs \"count\" or \"healthy\"") : expected;
            case "expect-health":
                Allowed("resource", "device", "health", "timeout");
                var health = Text("health", true);
                return health is "Healthy" or "Unhealthy"
                    ? step with { Resource = Text("resource", true), Device = Text("device", true), Health = health, Timeout = Duration("timeout", step.Timeout) }
                    : throw Error($"expect-health: health must be Healthy or Unhealthy, not \"{health}\"");
            case "expect-gone":
                Allowed("resource", "timeout");
                return step with { Resource = Text("resource", true), Timeout = Duration("timeout", step.Timeout) };
            case "admit-pod":
                Allowed("name", "namespace", "initContainers", "containers", "expectRefused");
                var pod = new PodSpec(Text("name", true)!, Text("namespace") ?? "default");
                foreach (var c in Containers(fields.GetValueOrDefault("initContainers"), init: true))
                {
                    pod.InitContainers.Add(c);
                }

                foreach (var c in Containers(fields.GetValueOrDefault("containers"), init: false))
                {
                    pod.Containers.Add(c);
                }

                return step with { Pod = pod, ExpectRefused = Text("expectRefused") is "true" };
            case "restart-container":
                Allowed("pod", "namespace", "container");
                return step with { PodName = Text("pod", true), Namespace = Text("namespace") ?? "default", Container = Text("container", true) };
            case "remove-pod":
                Allowed("name", "namespace");
                return step with { PodName = Text("name", true), Namespace = Text("namespace") ?? "default" };
            case "write-file":
                Allowed("path", "content");
                return step with { Path = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, Text("path", true)!)), Content = Text("content", true) };
            case "restart-kubelet":
                Allowed();
                return step;
            case "wait":
                Allowed("duration");
                return step with { Timeout = Duration("duration", TimeSpan.Zero) };
            default:
                throw Error($"unknown step \"{kind}\" (steps: {string.Join(", ", Kinds)})");
        }

        IEnumerable<ContainerSpec> Containers(YamlNode? list, bool init)
        {
            if (list is null)
            {
                yield break;
            }

            if (list is not YamlSequenceNode sequence)
            {
                throw Error("containers and initContainers are lists", list);
            }

            foreach (var item in sequence)
            {
                if (item is not YamlMappingNode c || !c.Children.TryGetValue(new YamlScalarNode("name"), out var nameNode) || nameNode is not YamlScalarNode { Value: { Length: > 0 } name })
                {
                    throw Error("a container is a mapping with a name", item);
                }

                if (c.Children.Keys.OfType<YamlScalarNode>().FirstOrDefault(k => k.Value is not ("name" or "limits" or "restartable")) is { } unknown)
                {
                    throw Error($"unknown container field \"{unknown.Value}\" (name, limits, restartable)", unknown);
                }

                var spec = new ContainerSpec(name)
                {
                    Restartable = init && c.Children.TryGetValue(new YamlScalarNode("restartable"), out var r) && r is YamlScalarNode { Value: "true" },
                };
                if (c.Children.TryGetValue(new YamlScalarNode("limits"), out var limits))
                {
                    if (limits is not YamlMappingNode limitMap)
                    {
                        throw Error("limits is a mapping of resource name to count", limits);
                    }

                    foreach (var (key, value) in limitMap.Children)
                    {
                        if (key is not YamlScalarNode { Value: { } resource } || value is not YamlScalarNode { Value: { } countText }
                            || !int.TryParse(countText, System.Globalization.CultureInfo.InvariantCulture, out var count) || count < 0)
                        {
                            throw Error("limits is a mapping of resource name to a count", key);
                        }

                        spec.Limits[resource] = count;
                    }
                }

                yield return spec;
            }
        }
    }
}
