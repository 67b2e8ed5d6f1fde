using System.Collections.Immutable;
using DevicePlugin.Configuration;

namespace DevicePlugin.Sources.Pci;

/// <summary>A <c>pci</c> resource's own settings.</summary>
public sealed record PciSettings : ISourceSettings
{
    /// <summary>Selectors (<c>match</c>); a device belongs to the resource when any entry matches.</summary>
    public ImmutableArray<PciMatch> Match { get; init; } = [];

    public bool Equals(PciSettings? other) => other is not null && Match.SequenceEqual(other.Match);

    public override int GetHashCode() => Match.Length;
}
