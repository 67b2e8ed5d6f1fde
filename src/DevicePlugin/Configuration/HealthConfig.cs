using System.Collections.Immutable;
using DevicePlugin.Inventory;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>The <c>health:</c> section.</summary>
public sealed record HealthConfig
{
    public static readonly ImmutableSortedSet<ulong> DefaultIgnoredXids = [13, 31, 43, 45, 68, 109];

    private static readonly string[] Keys = ["ignoredXids", "recoverAfter"];

    /// <summary>NVML XID codes that do not make a GPU unhealthy.</summary>
    public ImmutableSortedSet<ulong> IgnoredXids { get; init; } = DefaultIgnoredXids;

    /// <summary>Quiet time before an unhealthy device is healthy again; <see cref="TimeSpan.Zero"/> means never.</summary>
    public TimeSpan RecoverAfter { get; init; } = TimeSpan.FromMinutes(5);

    public bool Equals(HealthConfig? other) =>
        other is not null && RecoverAfter == other.RecoverAfter && IgnoredXids.SetEquals(other.IgnoredXids);

    public override int GetHashCode() => HashCode.Combine(RecoverAfter, IgnoredXids.Count);

    /// <summary>Reads the <c>health:</c> section of a configuration file.</summary>
    public static HealthConfig Read(ConfigReader reader, YamlNode node)
    {
        var map = reader.Mapping(node, "health");
        reader.KnownKeys(map, Keys, "health.");
        var config = new HealthConfig();
        if (reader.Get(map, "ignoredXids") is { } x)
        {
            config = config with
            {
                IgnoredXids = [.. reader.Sequence(x, "health.ignoredXids").Children.Select((e, i) =>
                    (ulong)reader.Number(e, $"health.ignoredXids[{i}]", 0, long.MaxValue))],
            };
        }

        if (reader.Get(map, "recoverAfter") is { } r)
        {
            var text = reader.Text(r, "health.recoverAfter");
            if (!DurationParser.TryParse(text, out var value))
            {
                throw reader.Error(r, "health.recoverAfter", $"must be a duration such as 5m, 30s or 0 (never), not \"{ClientText.Quote(text)}\"");
            }

            config = config with { RecoverAfter = value };
        }

        return config;
    }
}
