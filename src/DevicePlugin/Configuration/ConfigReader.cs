using System.Globalization;
using DevicePlugin.Inventory;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>
/// Reads values of one configuration file's YAML tree (the representation model: reflection-free, with line numbers)
/// and makes every problem a <see cref="ConfigException"/> in one style: file, line, key and what is wrong. Used by
/// <see cref="ConfigLoader"/> for the common keys and by each source's <see cref="ISourceSchema"/> for its own.
/// </summary>
public sealed class ConfigReader(string file)
{
    public string File { get; } = file;

    public YamlMappingNode Mapping(YamlNode node, string key) =>
        node as YamlMappingNode ?? throw Error(node, key, $"must be a mapping, not {Describe(node)}");

    public YamlSequenceNode Sequence(YamlNode node, string key) =>
        node as YamlSequenceNode ?? throw Error(node, key, $"must be a list, not {Describe(node)}");

    public YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    /// <summary>Refuses the first key of <paramref name="map"/> not in <paramref name="known"/>, listing those.</summary>
    public void KnownKeys(YamlMappingNode map, IReadOnlyCollection<string> known, string prefix)
    {
        foreach (var k in map.Children.Keys)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                throw UnknownKey(k, prefix + name, known);
            }
        }
    }

    public ConfigException UnknownKey(YamlNode keyNode, string key, IEnumerable<string> known) =>
        Error(keyNode, key, $"unknown key (expected one of: {string.Join(", ", known)})");

    public string Text(YamlNode node, string key)
    {
        if (node is not YamlScalarNode { Value: { } v } || v.Length == 0)
        {
            throw Error(node, key, $"must be a non-empty string, not {Describe(node)}");
        }

        return v;
    }

    public bool Bool(YamlNode node, string key) => Text(node, key) switch
    {
        "true" or "True" or "TRUE" => true,
        "false" or "False" or "FALSE" => false,
        var v => throw Error(node, key, $"must be true or false, not \"{ClientText.Quote(v)}\""),
    };

    public long Number(YamlNode node, string key, long min, long max)
    {
        var text = Text(node, key);
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

    /// <summary>A 16-bit id written in hexadecimal, with or without <c>0x</c>.</summary>
    public ushort Hex16(YamlNode node, string key)
    {
        var text = Text(node, key);
        var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (digits.Length is 0 or > 4 || !ushort.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v))
        {
            throw Error(node, key, $"must be a 16-bit hexadecimal id such as \"0x10de\", not \"{ClientText.Quote(text)}\"");
        }

        return v;
    }

    /// <summary>One of <paramref name="choices"/> (config word to value), or an error listing the words.</summary>
    public T Choice<T>(YamlNode node, string key, params ReadOnlySpan<(string Word, T Value)> choices)
    {
        var text = Text(node, key);
        var words = new List<string>(choices.Length);
        foreach (var (word, value) in choices)
        {
            if (string.Equals(word, text, StringComparison.Ordinal))
            {
                return value;
            }

            words.Add(word);
        }

        throw Error(node, key, $"must be {OneOf(words)}, not \"{ClientText.Quote(text)}\"");
    }

    /// <summary>The error for a node: file, the node's line, the key and the problem.</summary>
    public ConfigException Error(YamlNode node, string key, string problem) => new(File, (int)node.Start.Line, key, problem);

    /// <summary>The error for a line of the file (0: the file as a whole).</summary>
    public ConfigException Error(int line, string key, string problem) => new(File, line, key, problem);

    /// <summary>"a", "a or b", "a, b or c".</summary>
    public static string OneOf(IReadOnlyList<string> words) =>
        words.Count <= 1 ? string.Concat(words) : $"{string.Join(", ", words.Take(words.Count - 1))} or {words[^1]}";

    private static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode { Value: null or "" } => "an empty value",
        YamlScalarNode s => $"\"{ClientText.Quote(s.Value)}\"",
        YamlSequenceNode => "a list",
        _ => "a mapping",
    };
}
