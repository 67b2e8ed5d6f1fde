using System.Collections.Immutable;

namespace DevicePlugin.Inventory;

/// <summary>
/// The latest snapshots of every source, merged into one immutable view keyed by resource name. A source may publish
/// resources beyond the ones configured (<see cref="ResourceSnapshot.IsDerived"/>); a configured resource always keeps
/// its name, and a derived one whose name is already taken is left out and listed in <see cref="Conflicts"/>.
/// </summary>
public sealed class InventoryState
{
    public static InventoryState Empty { get; } = new(ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>>.Empty);

    private InventoryState(ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>> bySource)
    {
        BySource = bySource;
        var merged = ImmutableSortedDictionary.CreateBuilder<string, ResourceSnapshot>(StringComparer.Ordinal);
        var conflicts = ImmutableArray.CreateBuilder<string>();
        foreach (var derived in (bool[])[false, true])
        {
            foreach (var (_, snapshots) in bySource.OrderBy(kv => kv.Key))
            {
                foreach (var s in snapshots.Where(s => s.IsDerived == derived))
                {
                    // Config validation keeps configured names unique across sources; the first source wins if one slips through.
                    if (!merged.TryAdd(s.ResourceName, s) && derived)
                    {
                        conflicts.Add($"{s.ResourceName} (derived from {s.ConfiguredName}) is left out: another resource has that name");
                    }
                }
            }
        }

        Resources = merged.ToImmutable();
        Conflicts = conflicts.ToImmutable();
    }

    /// <summary>Derived resources left out because their name was taken, each described in words.</summary>
    public ImmutableArray<string> Conflicts { get; }

    public ImmutableDictionary<SourceKind, ImmutableArray<ResourceSnapshot>> BySource { get; }

    public ImmutableSortedDictionary<string, ResourceSnapshot> Resources { get; }

    public InventoryState With(SourceKind source, ImmutableArray<ResourceSnapshot> snapshots) =>
        new(snapshots.IsDefaultOrEmpty ? BySource.Remove(source) : BySource.SetItem(source, snapshots));
}
