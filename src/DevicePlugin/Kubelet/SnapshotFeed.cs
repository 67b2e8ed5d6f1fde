using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The snapshot one resource server answers from, and a signal for ListAndWatch streams when it changes.
/// Reads are lock-free; updates come from the resource manager's single loop.
/// </summary>
public sealed class SnapshotFeed(ResourceSnapshot initial)
{
    private readonly ChangeSignal _changed = new();
    private volatile Entry _entry = new(initial);

    public ResourceSnapshot Current => _entry.Snapshot;

    public void Update(ResourceSnapshot snapshot)
    {
        _entry = new Entry(snapshot);
        _changed.Notify();
    }

    /// <summary>
    /// The ListAndWatch message for <paramref name="snapshot"/>, encoded once per snapshot however many streams send it.
    /// </summary>
    public ListAndWatchResponse ListFor(ResourceSnapshot snapshot)
    {
        var entry = _entry;
        return ReferenceEquals(entry.Snapshot, snapshot) ? entry.List.Value : ListAndWatchEncoder.Encode(snapshot);
    }

    /// <summary>Completes when a snapshot other than <paramref name="seen"/> is current.</summary>
    public Task WaitForChangeAsync(ResourceSnapshot seen, CancellationToken cancellationToken)
    {
        // Take the signal before reading: an update after the read completes it.
        var next = _changed.Next;
        return ReferenceEquals(_entry.Snapshot, seen) ? next.WaitAsync(cancellationToken) : Task.CompletedTask;
    }

    private sealed class Entry(ResourceSnapshot snapshot)
    {
        public ResourceSnapshot Snapshot { get; } = snapshot;

        public Lazy<ListAndWatchResponse> List { get; } = new(() => ListAndWatchEncoder.Encode(snapshot));
    }
}
