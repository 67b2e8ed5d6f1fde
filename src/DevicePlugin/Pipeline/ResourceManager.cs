// Over 300 lines on purpose: the manager's one loop (publish, join with the policies, diff, start/update/stop servers,
// observers, fault attribution, applied-version waits) shares one lock and state; split, its ordering guarantees would span files.
using System.Collections.Immutable;
using DevicePlugin.Api;
using DevicePlugin.Hosting;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Pipeline;

/// <summary>
/// Receives every source's devices, joins each resource with its configured <see cref="ResourcePolicy"/> (the one
/// place policy meets devices: <see cref="ResourceJoin"/>), diffs the merged inventory against the running servers and
/// starts, updates or stops one <see cref="ResourceServer"/> per resource. All changes run on one background loop, in order; publishing
/// never blocks a source.
/// </summary>
public sealed class ResourceManager : IInventorySink, IAsyncDisposable
{
    private readonly ResourceServerContext _context;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private LoopHealth? _health;
    private BackgroundLoop? _loop;
    private readonly Dictionary<string, ResourceServer> _servers = new(StringComparer.Ordinal);
    private readonly List<IResourceObserver> _observers = [];
    private InventoryState _state = InventoryState.Empty;
    private ImmutableDictionary<SourceKind, ImmutableArray<PublishedResource>> _bySource =
        ImmutableDictionary<SourceKind, ImmutableArray<PublishedResource>>.Empty;
    private ImmutableDictionary<string, ResourcePolicy> _policies = ImmutableDictionary<string, ResourcePolicy>.Empty;

    /// <summary>The last join of each resource, so an unchanged resource keeps its snapshot (and its server sees no update).</summary>
    private readonly Dictionary<string, (PublishedResource Resource, ResourcePolicy Policy, ResourceSnapshot Snapshot)> _joins =
        new(StringComparer.Ordinal);
    private long _published;
    private long _applied;
    private readonly ChangeSignal _appliedSignal = new();

    /// <summary>The name conflicts logged already (loop only), so each is logged once while it lasts.</summary>
    private ImmutableArray<string> _reportedConflicts = [];

    public ResourceManager(ResourceServerContext context, ServingView? view = null)
    {
        _context = context;
        View = view ?? new ServingView();
        _logger = context.Loggers.CreateLogger<ResourceManager>();
    }

    /// <summary>What is served now, also readable without the manager.</summary>
    public ServingView View { get; }

    /// <summary>What every resource server shares.</summary>
    public ResourceServerContext Context => _context;

    /// <summary>The merged inventory as last published by the sources.</summary>
    public InventoryState State => View.State;

    /// <summary>The running servers (a copy).</summary>
    public IReadOnlyList<ResourceServer> Servers => View.Servers;

    /// <summary>True when every advertised resource is registered with the kubelet.</summary>
    public bool AllRegistered
    {
        get
        {
            lock (_lock)
            {
                return _state.Resources.Keys.All(n => _servers.TryGetValue(n, out var s) && s.State == RegistrationState.Registered);
            }
        }
    }

    /// <summary>Adds something that follows resources as they change (the CDI spec writer).</summary>
    public void AddObserver(IResourceObserver observer)
    {
        lock (_lock)
        {
            _observers.Add(observer);
        }
    }

    /// <summary>Where the manager's loop reports its failures (before <see cref="Start"/>).</summary>
    public void UseLoopHealth(LoopHealth health) => _health = health;

    public void Start()
    {
        _loop = new BackgroundLoop("resource-manager", PassAsync, _logger, _health);
        _loop.Start();
        _loop.Wake();
    }

    /// <summary>
    /// A source's devices: joined with the current policies into its snapshots (a resource without a policy is held
    /// back until one comes) and applied on the loop.
    /// </summary>
    public void Publish(SourceKind source, ImmutableArray<PublishedResource> resources)
    {
        lock (_lock)
        {
            if (_bySource.TryGetValue(source, out var before))
            {
                foreach (var gone in before.Where(b => resources.IsDefault || !resources.Any(r => r.ResourceName == b.ResourceName)))
                {
                    _joins.Remove(gone.ResourceName);
                }
            }

            _bySource = resources.IsDefaultOrEmpty ? _bySource.Remove(source) : _bySource.SetItem(source, resources);
            _state = _state.With(source, JoinLocked(source, resources));
            View.State = _state;
            _published++;
        }

        _loop?.Wake();
    }

    /// <summary>
    /// Sets the configured resources' policies (by configured name) and joins every source's last publication with
    /// them again, without asking any source: a change of replicas, naming or PreStartContainer reaches the servers
    /// from here alone. Resources whose devices and policy are unchanged keep their snapshot.
    /// </summary>
    public void ApplyPolicies(ImmutableDictionary<string, ResourcePolicy> policies)
    {
        lock (_lock)
        {
            _policies = policies;
            var state = InventoryState.Empty;
            foreach (var (source, resources) in _bySource)
            {
                state = state.With(source, JoinLocked(source, resources));
            }

            _state = state;
            View.State = _state;
            _published++;
        }

        _loop?.Wake();
    }

    /// <summary>Joins a publication with the policies, reusing the previous snapshot where neither side changed.</summary>
    private ImmutableArray<ResourceSnapshot> JoinLocked(SourceKind source, ImmutableArray<PublishedResource> resources)
    {
        if (resources.IsDefaultOrEmpty)
        {
            return [];
        }

        var joined = ImmutableArray.CreateBuilder<ResourceSnapshot>(resources.Length);
        foreach (var resource in resources)
        {
            if (!_policies.TryGetValue(resource.ConfiguredName, out var policy))
            {
                continue;
            }

            joined.Add(_joins.TryGetValue(resource.ResourceName, out var last)
                && ReferenceEquals(last.Resource, resource) && last.Policy.Equals(policy) && last.Snapshot.Source == source
                    ? last.Snapshot
                    : ResourceJoin.Join(source, resource, policy));
            _joins[resource.ResourceName] = (resource, policy, joined[^1]);
        }

        return joined.ToImmutable();
    }

    /// <summary>
    /// Counts the fault against the resource the source named, or else every resource that lists the device now
    /// (the nvml source serves one GPU to several resources); a device no resource lists is counted with an empty
    /// resource.
    /// </summary>
    public void RecordFault(SourceKind source, DeviceFault fault)
    {
        if (fault.Resource is { } named)
        {
            _context.Metrics.Fault(named, fault);
            return;
        }

        var counted = false;
        foreach (var snapshot in State.Resources.Values)
        {
            if (snapshot.Source == source && snapshot.Devices.Any(d => d.Id == fault.Device))
            {
                _context.Metrics.Fault(snapshot.ResourceName, fault);
                counted = true;
            }
        }

        if (!counted)
        {
            _context.Metrics.Fault("", fault);
        }
    }

    /// <summary>Completes once every snapshot published so far has reached the servers.</summary>
    public Task WaitForAppliedAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _applied >= _published ? Task.CompletedTask : WaitAsync(_published, cancellationToken);
        }
    }

    private async Task WaitAsync(long target, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_lock)
            {
                if (_applied >= target)
                {
                    return;
                }

                signal = _appliedSignal.Next;
            }

            await signal.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Runs a kubelet-directory check on every server.</summary>
    public void CheckKubelet(KubeletSocketIdentity? kubelet)
    {
        foreach (var server in Servers)
        {
            server.CheckKubelet(kubelet);
        }
    }

    private async Task PassAsync(CancellationToken token)
    {
        InventoryState state;
        long version;
        IResourceObserver[] observers;
        lock (_lock)
        {
            state = _state;
            version = _published;
            observers = [.. _observers];
        }

        await ApplyAsync(state, observers);
        lock (_lock)
        {
            _applied = Math.Max(_applied, version);
        }

        _appliedSignal.Notify();
    }

    private async Task ApplyAsync(InventoryState state, IResourceObserver[] observers)
    {
        foreach (var conflict in state.Conflicts.Except(_reportedConflicts))
        {
            ManagerLog.ResourceConflict(_logger, conflict);
        }

        _reportedConflicts = state.Conflicts;

        List<ResourceServer> removed = [];
        List<ResourceServer> added = [];
        lock (_lock)
        {
            foreach (var (name, server) in _servers)
            {
                if (!state.Resources.ContainsKey(name))
                {
                    removed.Add(server);
                }
            }

            foreach (var server in removed)
            {
                _servers.Remove(server.ResourceName);
            }

            View.SetServers(_servers.Values);
        }

        foreach (var server in removed)
        {
            KubeletLog.ResourceRemoved(_logger, server.ResourceName);
            await server.DisposeAsync();
            Notify(observers, o => o.ResourceRemoved(server.ResourceName));
        }

        foreach (var (name, snapshot) in state.Resources)
        {
            ResourceServer? server;
            lock (_lock)
            {
                _servers.TryGetValue(name, out server);
            }

            if (server is null)
            {
                KubeletLog.ResourceAdded(_logger, name, snapshot.Devices.Length);
                server = new ResourceServer(snapshot, _context);
                lock (_lock)
                {
                    _servers[name] = server;
                    View.SetServers(_servers.Values);
                }

                added.Add(server);
            }
            else if (!ReferenceEquals(server.Feed.Current, snapshot))
            {
                server.Update(snapshot);
            }

            Notify(observers, o => o.ResourceChanged(snapshot));
        }

        foreach (var server in added)
        {
            await server.StartAsync();
        }
    }

    private void Notify(IResourceObserver[] observers, Action<IResourceObserver> action)
    {
        foreach (var o in observers)
        {
            try
            {
                action(o);
            }
            catch (Exception e)
            {
                ManagerLog.ObserverFailed(_logger, o.GetType().Name, e.Message);
            }
        }
    }

    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop.StopAsync();
        }

        ResourceServer[] servers;
        IResourceObserver[] observers;
        lock (_lock)
        {
            servers = [.. _servers.Values];
            _servers.Clear();
            View.SetServers([]);
            observers = [.. _observers];
        }

        await Task.WhenAll(servers.Select(s => s.DisposeAsync().AsTask()));
        Notify(observers, o => o.Shutdown());
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        if (_loop is not null)
        {
            await _loop.DisposeAsync();
        }
    }
}
