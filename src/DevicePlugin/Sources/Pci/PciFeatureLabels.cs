using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// Node Feature Discovery labels for a pci resource <c>domain/name</c>: <c>domain/name.count</c>, <c>.vendor</c> and
/// <c>.device</c> (PCI ids, four hex digits) and <c>.driver</c>. Where the devices differ, the distinct values are
/// joined with <c>_</c> in sorted order.
/// </summary>
internal static class PciFeatureLabels
{
    public static ImmutableSortedDictionary<string, string> For(string resource, ImmutableArray<PhysicalDevice> devices)
    {
        var labels = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        labels[resource + ".count"] = devices.Length.ToString(CultureInfo.InvariantCulture);
        if (devices.IsEmpty)
        {
            return labels.ToImmutable();
        }

        labels[resource + ".vendor"] = Joined(devices, "vendor");
        labels[resource + ".device"] = Joined(devices, "device");
        labels[resource + ".driver"] = Joined(devices, "driver");
        return labels.ToImmutable();
    }

    private static string Joined(ImmutableArray<PhysicalDevice> devices, string attribute) =>
        string.Join('_', devices
            .Select(d => d.Attributes.TryGetValue(attribute, out var v) ? v : "")
            .Select(v => v.StartsWith("0x", StringComparison.Ordinal) ? v[2..] : v)
            .Where(v => v.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal));
}
