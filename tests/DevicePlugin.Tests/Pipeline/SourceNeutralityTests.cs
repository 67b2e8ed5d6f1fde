using System.Reflection;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Pipeline;

/// <summary>
/// The middle knows no source: no type in Configuration, Inventory or Pipeline refers to a source's folder, and none
/// of their method bodies loads a registered source's name or one of its config keys as a string of its own. A source's kind, keys and
/// settings live in its folder and reach the middle only through its registration.
/// </summary>
public sealed class SourceNeutralityTests
{
    /// <summary>What surrounds a key where code builds one (<c>prefix + ".match"</c>, <c>"match["</c>).</summary>
    private static readonly char[] KeyPunctuation = ['.', '[', ']', ':', ' ', '"'];

    private static readonly string[] Middle = ["DevicePlugin.Configuration", "DevicePlugin.Inventory", "DevicePlugin.Pipeline"];

    private static Type[] MiddleTypes()
    {
        var types = typeof(Daemon).Assembly.GetTypes()
            .Where(t => t.Namespace is { } ns && Middle.Any(m => ns == m || ns.StartsWith(m + ".", StringComparison.Ordinal)))
            .ToArray();
        Assert.Contains(typeof(DevicePlugin.Configuration.ConfigLoader), types);
        return types;
    }

    [Fact]
    public void Configuration_inventory_and_pipeline_refer_to_no_source_folder()
    {
        var references = MiddleTypes().SelectMany(IlReader.ReferencesOf)
            .Where(r => r.Referenced?.Namespace is { } ns && ns.StartsWith("DevicePlugin.Sources.", StringComparison.Ordinal))
            .Select(r => $"{r.From}: {r.Referenced!.FullName}")
            .Distinct()
            .ToArray();
        Assert.Empty(references);
    }

    [Fact]
    public void Configuration_inventory_and_pipeline_spell_no_source_name_or_source_key()
    {
        var words = DeviceSources.Builtin.Schemas.All.SelectMany(s => s.Keys.Prepend(s.Kind.Name)).ToArray();
        Assert.Contains("migStrategy", words);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

        var found = MiddleTypes()
            .SelectMany(t => t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)).Select(m => (Where: $"{t.FullName}.{m.Name}", Method: m)))
            .SelectMany(m => IlReader.BodyStrings(m.Method).Select(literal => (m.Where, Literal: literal)))
            .Where(s => words.Contains(s.Literal.Trim(KeyPunctuation), StringComparer.Ordinal))
            .Select(s => $"{s.Where}: \"{s.Literal}\"")
            .Distinct()
            .ToArray();
        Assert.Empty(found);
    }

    [Fact]
    public void The_string_reader_sees_literals_in_method_bodies()
    {
        // The check above is only as good as its IL reader: it must find the literal this method body loads.
        var method = typeof(SourceNeutralityTests).GetMethod(nameof(SpellsAKey), BindingFlags.NonPublic | BindingFlags.Static)!;
        Assert.Contains(".match", IlReader.BodyStrings(method));
    }

    private static string SpellsAKey(string prefix) => prefix + ".match";
}
