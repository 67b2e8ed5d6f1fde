using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The snapshot one resource server answers from, and a signal for ListAndWatch streams when it changes.
/// Reads are lock-free; updates come from the resource manager's single loop.
/// </summary>
public sealed class SnapshotFeed(ResourceSnapshot initial)
{
    private readonly Lock _lock = new();
    private volatile ResourceSnapshot _current = initial;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResourceSnapshot Current => _current;

    public void Update(ResourceSnapshot snapshot)
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            _current = snapshot;
            old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }

    /// <summary>Completes when a snapshot other than <paramref name="seen"/> is current.</summary>
    public Task WaitForChangeAsync(ResourceSnapshot seen, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ReferenceEquals(_current, seen) ? _changed.Task.WaitAsync(cancellationToken) : Task.CompletedTask;
        }
    }
}
