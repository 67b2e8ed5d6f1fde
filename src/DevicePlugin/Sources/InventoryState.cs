using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>The latest snapshots of every source, merged into one immutable view keyed by resource name.</summary>
public sealed class InventoryState
{
    public static InventoryState Empty { get; } = new(ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>>.Empty);

    private InventoryState(ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>> bySource)
    {
        BySource = bySource;
        var merged = ImmutableSortedDictionary.CreateBuilder<string, ResourceSnapshot>(StringComparer.Ordinal);
        foreach (var (_, snapshots) in bySource.OrderBy(kv => kv.Key))
        {
            foreach (var s in snapshots)
            {
                // Config validation keeps names unique across sources; the first source wins if one slips through.
                merged.TryAdd(s.ResourceName, s);
            }
        }

        Resources = merged.ToImmutable();
    }

    public ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>> BySource { get; }

    public ImmutableSortedDictionary<string, ResourceSnapshot> Resources { get; }

    public InventoryState With(SourceKind source, ImmutableArray<ResourceSnapshot> snapshots) =>
        new(snapshots.IsDefaultOrEmpty ? BySource.Remove(source) : BySource.SetItem(source, snapshots));
}
