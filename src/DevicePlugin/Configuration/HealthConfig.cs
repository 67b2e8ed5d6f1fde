using System.Collections.Immutable;

namespace DevicePlugin.Configuration;

/// <summary>The <c>health:</c> section.</summary>
public sealed record HealthConfig
{
    public static readonly ImmutableSortedSet<ulong> DefaultIgnoredXids = [13, 31, 43, 45, 68, 109];

    /// <summary>NVML XID codes that do not make a GPU unhealthy.</summary>
    public ImmutableSortedSet<ulong> IgnoredXids { get; init; } = DefaultIgnoredXids;

    /// <summary>Quiet time before an unhealthy device is healthy again; <see cref="TimeSpan.Zero"/> means never.</summary>
    public TimeSpan RecoverAfter { get; init; } = TimeSpan.FromMinutes(5);

    public bool Equals(HealthConfig? other) =>
        other is not null && RecoverAfter == other.RecoverAfter && IgnoredXids.SetEquals(other.IgnoredXids);

    public override int GetHashCode() => HashCode.Combine(RecoverAfter, IgnoredXids.Count);
}
