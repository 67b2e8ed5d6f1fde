// Over 300 lines on purpose: the daemon's composition and lifecycle (what is built in which order, start, applying a
// configuration, stop) read as one sequence; each step itself lives in its own area.
using DevicePlugin.Cdi;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using DevicePlugin.Pipeline;
using DevicePlugin.Metrics;
using DevicePlugin.NodeFeatures;
using DevicePlugin.Sources;
using Microsoft.Extensions.Logging;

namespace DevicePlugin;

/// <summary>
/// The whole plugin in one object: sources feed the resource manager, which runs one gRPC server per resource; the
/// kubelet directory and the config file are watched; metrics are served. Used by <c>Program</c>, the demo and the
/// in-process integration tests alike.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private readonly DaemonOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SourceFactory _sourceFactory;
    private readonly SourceCatalog _catalog;
    private readonly Dictionary<SourceKind, IDeviceSource> _sources = [];

    /// <summary>What each source last accepted without failing; an equal assignment is not handed to it again.</summary>
    private readonly Dictionary<SourceKind, SourceAssignment> _applied = [];
    private readonly SemaphoreSlim _applyLock = new(1, 1);
    private readonly PluginMetrics _metrics;
    private readonly SourceStatus _status;
    private readonly ResourceManager _manager;
    private readonly CdiSpecObserver _cdi;
    private readonly LoopHealth _loops;
    private readonly PluginWebHost _host;
    private Uri? _metricsAddress;
    private readonly KubeletDirectoryLock _instanceLock;
    private KubeletDirectoryWatcher? _kubeletWatcher;
    private ConfigFileWatcher? _configWatcher;

    /// <summary>The config file watcher while it runs (none without a config file).</summary>
    internal ConfigFileWatcher? ConfigWatcher => _configWatcher;
    private PodResourcesPoller? _podResources;
    private int _stopped;
    private readonly CancellationTokenSource _startupDone = new();
    private Task _afterStartup = Task.CompletedTask;
    private readonly MemoryTrimmer _trimmer;

    /// <summary>How long start-up waits for every resource to register before it starts what registration does not need.</summary>
    private static readonly TimeSpan StartupWindow = TimeSpan.FromSeconds(5);
    private bool _started;

    /// <param name="sources">Creates each source; by default the catalog's registration does.</param>
    /// <param name="catalog">The sources this daemon knows (their config schemas, kinds and factories); <see cref="DeviceSources.Builtin"/> by default.</param>
    public Daemon(DaemonOptions options, PluginConfig config, ILoggerFactory loggers, TimeProvider? time = null, SourceFactory? sources = null,
        SourceCatalog? catalog = null)
    {
        _catalog = catalog ?? DeviceSources.Builtin;
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger<Daemon>();
        _time = time ?? TimeProvider.System;
        _sourceFactory = sources ?? _catalog.Create;
        Config = config;
        // The metrics read what is served from the view the manager writes, so they exist before the manager that
        // reports to them.
        var view = new ServingView();
        _metrics = new PluginMetrics(
            () => view.State.Resources.Values,
            () => view.Servers.Select(s => new ServerStatus(s.ResourceName, s.State == RegistrationState.Registered, s.OpenStreams)));
        _loops = new LoopHealth(_metrics.Registry);
        _host = new PluginWebHost(loggers, _loops);
        _instanceLock = new KubeletDirectoryLock(options.KubeletDirectory);
        _manager = new ResourceManager(
            new ResourceServerContext(options.KubeletDirectory, _host, loggers, _metrics, _time) { DirectoryLock = _instanceLock, Loops = _loops }, view);
        _trimmer = new MemoryTrimmer(loggers.CreateLogger<MemoryTrimmer>(), _loops);
        _manager.UseLoopHealth(_loops);
        _status = new SourceStatus(_manager, _metrics);
        _cdi = new CdiSpecObserver(config.Cdi, loggers);
        _manager.AddObserver(_cdi);
        _manager.AddObserver(new DeviceHealthTracker(_metrics, loggers.CreateLogger<DeviceHealthTracker>()));
        if (options.NfdFeaturesFile is { } features)
        {
            _manager.AddObserver(new NfdFeatureFile(features, loggers.CreateLogger<NfdFeatureFile>()));
        }
    }

    public PluginConfig Config { get; private set; }

    public ResourceManager Resources => _manager;

    /// <summary>Where /metrics, /healthz and /readyz are served, once started; null when turned off.</summary>
    public Uri? MetricsAddress => _metricsAddress;

    public PluginMetrics Metrics => _metrics;

    /// <summary>
    /// Completes, with a one-line reason, when this daemon must stop with exit 1 while running: another daemon took
    /// the kubelet directory (after the directory was recreated).
    /// </summary>
    public Task<string> Fatal => _instanceLock.Lost;

    /// <summary>
    /// Starts serving: metrics first, then every configured source (which publish their first snapshots), then the
    /// watchers. Throws <see cref="SourceInitException"/> when a source cannot start and --fail-on-init-error is true.
    /// Registration with the kubelet proceeds in the background; it never blocks start-up.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        // Before anything else: a second daemon on the same directory stops here (KubeletDirectoryLockedException).
        // A directory that does not exist yet is locked when it appears, before any socket is created in it.
        _instanceLock.Ensure();
        _started = true;
        DaemonLog.Starting(_logger, _options.KubeletDirectory, _options.ConfigPath ?? "(built-in defaults)", Config.Resources.Length);
        if (Config.IsDefault)
        {
            DaemonLog.UsingDefaults(_logger, string.Join(", ", Config.Resources.Select(r => $"{r.Name} ({r.Source.ToConfigName()})")));
        }

        if (_options.MetricsAddress.Length > 0 && MetricsEndpoint.TryParseAddress(_options.MetricsAddress, out var ip))
        {
            try
            {
                var bound = _host.AddMetricsListener(ip!);
                _metricsAddress = MetricsEndpoint.AddressOf(bound);
                DaemonLog.MetricsListening(_logger, MetricsEndpoint.Describe(bound));
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                // Address in use, not on this host, or not ours to bind: fatal like a source that cannot start, unless
                // told to serve what it can.
                var message = $"cannot serve metrics on --metrics-address {_options.MetricsAddress}: {OsErrorText.Of(e)}";
                DaemonLog.MetricsFailed(_logger, message);
                if (_options.FailOnInitError)
                {
                    throw new SourceInitException(message, e);
                }
            }
        }

        // One server for every resource socket and the metrics listener, built and started beside the sources: a
        // socket bound before it runs keeps its connections (the kubelet's dial-back) queued until it does.
        var hostStarted = Task.Run(() => _host.StartAsync(_manager.Context, new MetricsEndpoint(_metrics.Registry,
            () => _manager.AllRegistered && _status.Problems().IsEmpty && _loops.FailingForReadiness == 0, ReadinessDetail), cancellationToken),
            CancellationToken.None);
        try
        {
            if (_options.PodResourcesSocket.Length > 0)
            {
                // Polled from when start-up is done (AfterStartupAsync); a scrape before that asks it directly.
                _podResources = new PodResourcesPoller(_options.PodResourcesSocket, _time, _loggers.CreateLogger<PodResourcesPoller>(), _loops);
                _metrics.Holders = _podResources;
            }

            _manager.Start();
            await ApplySourcesAsync(Config, startup: true, cancellationToken);
            _kubeletWatcher = new KubeletDirectoryWatcher(_options.KubeletDirectory, CheckKubeletDirectory,
                logger: _loggers.CreateLogger<KubeletDirectoryWatcher>(), health: _loops);
            _kubeletWatcher.Start();
            if (_options.ConfigPath is { } path)
            {
                _configWatcher = new ConfigFileWatcher(path, read => ApplyReadAsync(path, read, CancellationToken.None),
                    _loggers.CreateLogger<ConfigFileWatcher>(), _loops);
                _configWatcher.Start();
            }
        }
        catch
        {
            await hostStarted.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }

        await hostStarted;
        _afterStartup = AfterStartupAsync(_startupDone.Token);
    }

    /// <summary>
    /// What registration does not need waits until every resource has registered (or 5 s have passed, when the
    /// kubelet is away): the PodResources poll, and returning start-up's garbage to the system (then after each burst: MemoryTrimmer).
    /// </summary>
    private async Task AfterStartupAsync(CancellationToken token)
    {
        try
        {
            var deadline = Task.Delay(StartupWindow, _time, token);
            while (true)
            {
                var next = _manager.Context.Registrations.Next;
                if (_manager.AllRegistered || deadline.IsCompleted)
                {
                    break;
                }

                await Task.WhenAny(next, deadline);
            }

            token.ThrowIfCancellationRequested();
            StartupCollectionPause.End();
            _podResources?.Start();
            _trimmer.Trim(startup: true);
            _trimmer.Start();
        }
        catch (OperationCanceledException)
        {
            // Stopping before start-up was done.
            StartupCollectionPause.End();
        }
    }

    private void CheckKubeletDirectory(KubeletSocketIdentity? kubelet)
    {
        try
        {
            // Keeps the instance lock on the directory the path names now (it may have been recreated).
            _instanceLock.Ensure();
        }
        catch (KubeletDirectoryLockedException)
        {
            return; // Fatal has completed: the process stops.
        }
        catch (IOException)
        {
            // Serving reports it when it tries to create its socket.
        }

        _manager.CheckKubelet(kubelet);
    }

    private string ReadinessDetail()
    {
        var pending = _manager.State.Resources.Keys
            .Select(n => (Name: n, Server: _manager.Servers.FirstOrDefault(s => s.ResourceName == n)))
            .Where(p => p.Server?.State != RegistrationState.Registered)
            .Select(p => p.Server?.LastError is { } e ? $"{p.Name}: {e}" : $"{p.Name}: not registered yet");
        var loops = _loops.Failing.Select(l => $"background loop {l.Key} failing: {l.Value}");
        return "not ready: " + string.Join("; ", _status.Problems().Concat(pending).Concat(loops));
    }

    /// <summary>Reads the config file again and applies it, or keeps the running configuration when it is invalid.</summary>
    public async Task<bool> ReloadAsync(CancellationToken cancellationToken)
    {
        if (_options.ConfigPath is not { } path)
        {
            return false;
        }

        return await ApplyReadAsync(path, await Task.Run(() => ConfigFileRead.Of(path), cancellationToken), cancellationToken);
    }

    /// <summary>Applies what a read of the config file saw, or refuses it whole and keeps the running configuration.</summary>
    private async Task<bool> ApplyReadAsync(string path, ConfigFileRead read, CancellationToken cancellationToken)
    {
        PluginConfig next;
        try
        {
            next = read.Content is { } content ? _catalog.Schemas.Parse(content, path) : throw new ConfigException(read.Error ?? $"{path}: cannot be read");
        }
        catch (ConfigException e)
        {
            _metrics.ConfigReload(applied: false);
            DaemonLog.ConfigRejected(_logger, e.Message);
            return false;
        }

        _cdi.Reconfigure(next.Cdi);
        await ApplySourcesAsync(next, startup: false, cancellationToken);
        Config = next;
        _metrics.ConfigReload(applied: true);
        DaemonLog.ConfigApplied(_logger, path, next.Resources.Length);
        return true;
    }

    private async Task ApplySourcesAsync(PluginConfig config, bool startup, CancellationToken cancellationToken)
    {
        await _applyLock.WaitAsync(cancellationToken);
        try
        {
            _status.Defaults = config.IsDefault;

            // Policy first: a new resource's policy is there when its source publishes; a removed one's resource is
            // held back at once. Sources whose assignment is unchanged are not called at all.
            _manager.ApplyPolicies(config.Policies);
            foreach (var kind in _catalog.Kinds)
            {
                var assignment = SourceAssignment.For(kind, config);
                var resources = assignment.Resources;
                if (!_sources.TryGetValue(kind, out var source))
                {
                    if (resources.IsEmpty)
                    {
                        _status.SourceUnused(kind);
                        continue;
                    }

                    var failFast = _options.FailOnInitError && !config.IsDefault;
                    try
                    {
                        source = _sourceFactory(kind, new SourceContext(_status, _options, failFast, _loggers, _time, _metrics, _loops, config.IsDefault));
                    }
                    catch (SourceInitException e)
                    {
                        Fail(kind, e, startup && failFast);
                        continue;
                    }

                    _sources[kind] = source;
                }

                if (_applied.TryGetValue(kind, out var applied) && applied.Equals(assignment))
                {
                    continue;
                }

                _applied.Remove(kind);
                try
                {
                    await source.ApplyAsync(assignment, cancellationToken);
                    _applied[kind] = assignment;
                    if (resources.IsEmpty)
                    {
                        _status.SourceUnused(kind);
                    }
                }
                catch (SourceInitException e)
                {
                    Fail(kind, e, startup && _options.FailOnInitError && !config.IsDefault);
                }
            }
        }
        finally
        {
            _applyLock.Release();
        }
    }

    private void Fail(SourceKind kind, SourceInitException e, bool fatal)
    {
        _status.SourceFailed(kind, e);
        DaemonLog.SourceFailed(_logger, kind.ToConfigName(), e.Message);
        if (fatal)
        {
            throw e;
        }
    }

    /// <summary>Stops watchers and sources, ends every stream, deletes our sockets. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1 || !_started)
        {
            return; // stopped already, or never started (another daemon holds the directory): nothing to undo
        }

        DaemonLog.Stopping(_logger);
        await _startupDone.CancelAsync();
        await _afterStartup;
        await _trimmer.DisposeAsync();
        if (_configWatcher is not null)
        {
            await _configWatcher.DisposeAsync();
        }

        if (_kubeletWatcher is not null)
        {
            await _kubeletWatcher.DisposeAsync();
        }

        if (_podResources is not null)
        {
            _metrics.Holders = null;
            await _podResources.DisposeAsync();
        }

        foreach (var source in _sources.Values)
        {
            await source.DisposeAsync();
        }

        _sources.Clear();
        await _manager.StopAsync();
        await _host.DisposeAsync();

        DaemonLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _manager.DisposeAsync();
        _instanceLock.Dispose();
        _metrics.Dispose();
        _applyLock.Dispose();
        _startupDone.Dispose();
    }
}
