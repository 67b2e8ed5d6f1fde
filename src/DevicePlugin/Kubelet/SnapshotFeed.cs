using DevicePlugin.Api;
using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The snapshot one resource server answers from, and a signal for ListAndWatch streams when it changes.
/// Reads are lock-free; updates come from the resource manager's single loop.
/// </summary>
public sealed class SnapshotFeed(ResourceSnapshot initial)
{
    private readonly ChangeSignal _changed = new();
    private volatile ResourceSnapshot _current = initial;

    public ResourceSnapshot Current => _current;

    public void Update(ResourceSnapshot snapshot)
    {
        _current = snapshot;
        _changed.Notify();
    }

    /// <summary>Completes when a snapshot other than <paramref name="seen"/> is current.</summary>
    public Task WaitForChangeAsync(ResourceSnapshot seen, CancellationToken cancellationToken)
    {
        // Take the signal before reading: an update after the read completes it.
        var next = _changed.Next;
        return ReferenceEquals(_current, seen) ? next.WaitAsync(cancellationToken) : Task.CompletedTask;
    }
}
