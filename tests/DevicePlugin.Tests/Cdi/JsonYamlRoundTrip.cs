using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Tests.Cdi;

/// <summary>
/// Converts a JSON document to a YAML representation model and back, for checking that a spec survives the YAML
/// form CDI also accepts. Values are compared as a plain tree of dictionaries, lists and strings.
/// </summary>
public static class JsonYamlRoundTrip
{
    public static string ToYaml(JsonElement json)
    {
        var stream = new YamlStream(new YamlDocument(ToNode(json)));
        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    public static object? FromYaml(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Plain(stream.Documents.Single().RootNode);
    }

    /// <summary>A JSON element as nested SortedDictionary / List / string (numbers and booleans as their text).</summary>
    public static object? Plain(JsonElement json) => json.ValueKind switch
    {
        JsonValueKind.Object => new SortedDictionary<string, object?>(
            json.EnumerateObject().ToDictionary(p => p.Name, p => Plain(p.Value)), StringComparer.Ordinal),
        JsonValueKind.Array => json.EnumerateArray().Select(Plain).ToList(),
        JsonValueKind.String => json.GetString(),
        JsonValueKind.Null => null,
        _ => json.GetRawText(),
    };

    /// <summary>Structural equality of two plain trees.</summary>
    public static bool Same(object? a, object? b) => (a, b) switch
    {
        (SortedDictionary<string, object?> x, SortedDictionary<string, object?> y) =>
            x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && Same(kv.Value, v)),
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Same(p.First, p.Second)),
        (string x, string y) => x == y,
        (null, null) => true,
        _ => false,
    };

    private static YamlNode ToNode(JsonElement json)
    {
        switch (json.ValueKind)
        {
            case JsonValueKind.Object:
                var mapping = new YamlMappingNode();
                foreach (var property in json.EnumerateObject())
                {
                    mapping.Add(new YamlScalarNode(property.Name), ToNode(property.Value));
                }

                return mapping;
            case JsonValueKind.Array:
                return new YamlSequenceNode(json.EnumerateArray().Select(ToNode));
            case JsonValueKind.String:
                // Quoted, so that values such as "0.3.0" or "true" stay strings.
                return new YamlScalarNode(json.GetString()) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted };
            default:
                return new YamlScalarNode(json.GetRawText());
        }
    }

    private static object? Plain(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new SortedDictionary<string, object?>(
            mapping.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => Plain(kv.Value)), StringComparer.Ordinal),
        YamlSequenceNode sequence => sequence.Children.Select(Plain).ToList(),
        YamlScalarNode scalar => scalar.Value,
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType}"),
    };
}
