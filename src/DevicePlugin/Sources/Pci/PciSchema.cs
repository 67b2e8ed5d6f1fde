using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Sources.Pci;

/// <summary>The <c>pci</c> source's kind and its part of the configuration file: <c>match</c>.</summary>
public sealed class PciSchema : ISourceSchema
{
    private static readonly string[] MatchKeys = ["vendor", "device", "class", "driver"];

    public static SourceKind Kind { get; } = new("pci")
    {
        UncodedFaultKinds = [DeviceFaultKind.AerFatal, DeviceFaultKind.DriverUnbound, DeviceFaultKind.Unplugged, DeviceFaultKind.NodeMissing],
    };

    SourceKind ISourceSchema.Kind => Kind;

    public ImmutableArray<string> Keys { get; } = ["match"];

    public ISourceSettings Parse(SourceEntry entry)
    {
        var key = entry.KeyOf("match");
        var match = entry.Get("match") is { } node
            ? [.. entry.Reader.Sequence(node, key).Children.Select((e, i) => Match(entry.Reader, e, $"{key}[{i}]"))]
            : ImmutableArray<PciMatch>.Empty;
        if (match.IsEmpty)
        {
            throw entry.Error(entry.Node, key, "a pci resource needs at least one match entry with a vendor");
        }

        return new PciSettings { Match = match };
    }

    private static PciMatch Match(ConfigReader reader, YamlNode node, string prefix)
    {
        var map = reader.Mapping(node, prefix);
        reader.KnownKeys(map, MatchKeys, prefix + ".");
        var vendor = reader.Get(map, "vendor") ?? throw reader.Error(map, prefix + ".vendor", "is required");
        return new PciMatch
        {
            Vendor = reader.Hex16(vendor, prefix + ".vendor"),
            Device = reader.Get(map, "device") is { } d ? reader.Hex16(d, prefix + ".device") : null,
            Class = reader.Get(map, "class") is { } c ? reader.Hex16(c, prefix + ".class") : null,
            Driver = reader.Get(map, "driver") is { } drv ? reader.Text(drv, prefix + ".driver") : null,
        };
    }
}
