using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// Where a resource's devices come from: the value of a resource's <c>source</c> key. Each source defines its own kind
/// in its folder (beside its config schema); nothing in the middle lists them. Two kinds are the same kind when their
/// names are. The traits are what the middle needs to know of a source without knowing which it is.
/// </summary>
public sealed class SourceKind : IEquatable<SourceKind>, IComparable<SourceKind>
{
    public SourceKind(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The name in the config file's <c>source</c> key, in logs and in metric labels.</summary>
    public string Name { get; }

    /// <summary>
    /// The fault kinds (<c>Health/DeviceFaultKind</c>) the source can report that carry no code: their counters are
    /// exported at 0 for every device from the first scrape.
    /// </summary>
    public ImmutableArray<string> UncodedFaultKinds { get; init; } = [];

    /// <summary>True when device health is whatever the configuration says: a health change is then caused by the configuration.</summary>
    public bool HealthFromConfiguration { get; init; }

    public string ToConfigName() => Name;

    public bool Equals(SourceKind? other) => other is not null && string.Equals(Name, other.Name, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as SourceKind);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);

    public int CompareTo(SourceKind? other) => string.CompareOrdinal(Name, other?.Name);

    public override string ToString() => Name;

    public static bool operator ==(SourceKind? left, SourceKind? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(SourceKind? left, SourceKind? right) => !(left == right);

    public static bool operator <(SourceKind? left, SourceKind? right) => left is null ? right is not null : left.CompareTo(right) < 0;

    public static bool operator <=(SourceKind? left, SourceKind? right) => left is null || left.CompareTo(right) <= 0;

    public static bool operator >(SourceKind? left, SourceKind? right) => left is not null && left.CompareTo(right) > 0;

    public static bool operator >=(SourceKind? left, SourceKind? right) => left is null ? right is null : left.CompareTo(right) >= 0;
}
