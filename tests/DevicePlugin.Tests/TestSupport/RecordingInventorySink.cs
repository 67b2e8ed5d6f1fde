using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Pipeline;
using DevicePlugin.Sources;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// Records every publication of one source, joined with <see cref="Policies"/> into snapshots as the manager would,
/// and lets a test await one that matches a predicate, with a timeout instead of sleeps.
/// </summary>
public sealed class RecordingInventorySink(SourceKind expected) : IInventorySink
{
    private readonly Lock _lock = new();
    private readonly List<ImmutableArray<ResourceSnapshot>> _published = [];
    private readonly List<(Func<ImmutableArray<ResourceSnapshot>, bool> Predicate, TaskCompletionSource<ImmutableArray<ResourceSnapshot>> Done)> _waiters = [];

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _published.Count;
            }
        }
    }

    /// <summary>The last publication; empty when nothing was published yet.</summary>
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

    private readonly List<DeviceFault> _faults = [];

    /// <summary>Every fault recorded so far, oldest first.</summary>
    public IReadOnlyList<DeviceFault> Faults
    {
        get
        {
            lock (_lock)
            {
                return _faults.ToArray();
            }
        }
    }

    public void RecordFault(SourceKind source, DeviceFault fault)
    {
        Assert.Equal(expected, source);
        lock (_lock)
        {
            _faults.Add(fault);
        }
    }

    private readonly List<string> _status = [];

    /// <summary>Every status report so far, oldest first: <c>running</c> or <c>failed: message</c>.</summary>
    public IReadOnlyList<string> Status
    {
        get
        {
            lock (_lock)
            {
                return _status.ToArray();
            }
        }
    }

    public int Failures => Status.Count(s => s.StartsWith("failed", StringComparison.Ordinal));

    public void SourceRunning(SourceKind source)
    {
        Assert.Equal(expected, source);
        lock (_lock)
        {
            _status.Add("running");
        }
    }

    public void SourceFailed(SourceKind source, SourceInitException error)
    {
        Assert.Equal(expected, source);
        lock (_lock)
        {
            _status.Add("failed: " + error.Message);
        }
    }

    /// <summary>
    /// The policies publications are joined with, by configured name, as the manager joins them; a resource without
    /// one gets <see cref="ResourcePolicy.Default"/>.
    /// </summary>
    public ImmutableDictionary<string, ResourcePolicy> Policies { get; set; } = ImmutableDictionary<string, ResourcePolicy>.Empty;

    public void Publish(SourceKind source, ImmutableArray<PublishedResource> resources)
    {
        Assert.Equal(expected, source);
        var policies = Policies;
        ImmutableArray<ResourceSnapshot> snapshots =
            [.. resources.Select(r => ResourceJoin.Join(source, r, policies.GetValueOrDefault(r.ConfiguredName) ?? ResourcePolicy.Default))];
        lock (_lock)
        {
            _published.Add(snapshots);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Predicate(snapshots))
                {
                    _waiters[i].Done.TrySetResult(snapshots);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>
    /// The first publication, the latest one included, that matches; fails the test after <paramref name="timeout"/>.
    /// </summary>
    public async Task<ImmutableArray<ResourceSnapshot>> WaitForAsync(
        Func<ImmutableArray<ResourceSnapshot>, bool> predicate, TimeSpan timeout, bool includeLatest = true)
    {
        var done = new TaskCompletionSource<ImmutableArray<ResourceSnapshot>>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (includeLatest && _published.Count > 0 && predicate(_published[^1]))
            {
                return _published[^1];
            }

            _waiters.Add((predicate, done));
        }

        try
        {
            return await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                _waiters.RemoveAll(w => w.Done == done);
            }

            throw new TimeoutException($"no matching snapshot within {timeout}; latest: {Describe(Latest)}");
        }
    }

    public static string Describe(ImmutableArray<ResourceSnapshot> snapshots) =>
        snapshots.IsDefaultOrEmpty
            ? "(none)"
            : string.Join("; ", snapshots.Select(s => $"{s.ResourceName}: " + string.Join(", ",
                s.Devices.Select(d => $"{d.Id} {d.Health} {d.UnhealthyReason}"))));
}
