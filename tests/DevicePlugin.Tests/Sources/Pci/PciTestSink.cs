using System.Collections.Immutable;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>
/// Records what the pci source publishes and lets a test await the first publication (past or future) that
/// satisfies a predicate, with a timeout instead of sleeps.
/// </summary>
public sealed class PciTestSink : IInventorySink
{
    private readonly Lock _lock = new();
    private readonly List<ImmutableArray<ResourceSnapshot>> _published = [];
    private readonly List<Waiter> _waiters = [];

    public int PublishCount
    {
        get
        {
            lock (_lock)
            {
                return _published.Count;
            }
        }
    }

    public ImmutableArray<ResourceSnapshot> Latest
    {
        get
        {
            lock (_lock)
            {
                return _published.Count == 0 ? [] : _published[^1];
            }
        }
    }

    public void Publish(SourceKind source, ImmutableArray<ResourceSnapshot> snapshots)
    {
        Assert.Equal(SourceKind.Pci, source);
        List<Waiter> done;
        lock (_lock)
        {
            _published.Add(snapshots);
            done = _waiters.Where(w => w.Predicate(snapshots)).ToList();
            _waiters.RemoveAll(done.Contains);
        }

        foreach (var waiter in done)
        {
            waiter.Completion.TrySetResult(snapshots);
        }
    }

    /// <summary>
    /// The latest publication if it satisfies the predicate, else the next one that does; fails after the timeout
    /// with a message showing what was last published.
    /// </summary>
    public async Task<ImmutableArray<ResourceSnapshot>> WaitForAsync(
        Func<ImmutableArray<ResourceSnapshot>, bool> predicate, TimeSpan timeout)
    {
        var waiter = new Waiter(predicate);
        lock (_lock)
        {
            if (_published.Count > 0 && predicate(_published[^1]))
            {
                return _published[^1];
            }

            _waiters.Add(waiter);
        }

        try
        {
            return await waiter.Completion.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                _waiters.Remove(waiter);
            }

            throw new TimeoutException($"no matching publication within {timeout}; latest: {Describe(Latest)}");
        }
    }

    public static string Describe(ImmutableArray<ResourceSnapshot> snapshots) =>
        string.Join("; ", snapshots.Select(s =>
            $"{s.ResourceName}[{string.Join(", ", s.Devices.Select(d => $"{d.Id} {d.Health} {d.UnhealthyReason}"))}]"));

    private sealed class Waiter(Func<ImmutableArray<ResourceSnapshot>, bool> predicate)
    {
        public Func<ImmutableArray<ResourceSnapshot>, bool> Predicate { get; } = predicate;

        public TaskCompletionSource<ImmutableArray<ResourceSnapshot>> Completion { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
