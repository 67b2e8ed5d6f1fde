using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The <c>nvml</c> source: NVIDIA GPUs found through NVML, one device per GPU (ID = UUID) and, by the resource's
/// <c>migStrategy</c>, one per MIG device (ID = its <c>MIG-…</c> UUID), with NVLink/PCIe topology computed at start and
/// whenever the GPU set changes, and health watched on a dedicated thread. The configured <c>nvml</c> resource gets
/// the GPUs with its own replicas and options; with <c>mixed</c> it also publishes one derived resource per MIG profile. Snapshots are complete and self-contained: answering Allocate or
/// GetPreferredAllocation never calls NVML.
/// </summary>
public sealed class NvmlSource : IDeviceSource
{
    private readonly NvmlSourceOptions _options;
    private readonly IInventorySink _sink;
    private readonly TimeProvider _time;
    private readonly ILogger<NvmlSource> _logger;
    private readonly NvmlMetrics _metrics;

    /// <summary>Serialises ApplyAsync, the retry loop and DisposeAsync (start and stop of NVML).</summary>
    private readonly SemaphoreSlim _apply = new(1, 1);

    /// <summary>Guards <see cref="_session"/>, <see cref="_resources"/> and the order of publications.</summary>
    private readonly Lock _publish = new();

    private NvmlSession? _session;
    private ImmutableArray<ResourceRequest> _resources = [];
    private HealthConfig _health = new();

    /// <summary>The <c>single</c> resources that advertise nothing now, and why (read by the metric).</summary>
    private volatile ImmutableDictionary<string, NvmlMigRefusal> _refusals = ImmutableDictionary<string, NvmlMigRefusal>.Empty;
    private CancellationTokenSource? _retryCancel;
    private Task? _retry;
    private bool _disposed;
    private readonly WarningThrottle _retryWarnings;
    private readonly LoopHealth? _loops;

    /// <param name="metrics">The daemon's metrics, where the source's own gauges go; none when null.</param>
    /// <param name="loops">Where the health loop's failures show (/readyz and the background_loop metrics); none when null.</param>
    public NvmlSource(NvmlSourceOptions options, IInventorySink sink, TimeProvider time, ILoggerFactory loggers, ISourceMetrics? metrics = null,
        LoopHealth? loops = null)
    {
        _loops = loops;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.RetryInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HealthPollInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.RescanInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.UuidCheckInterval, TimeSpan.Zero);
        _options = options;
        _sink = sink;
        _time = time;
        _logger = loggers.CreateLogger<NvmlSource>();
        _retryWarnings = new WarningThrottle(options.RetryWarningInterval);
        _metrics = new NvmlMetrics(() => MigGpusSkipped, sink, () => _refusals.Select(r => (r.Key, r.Value.Reason)),
            metrics ?? ISourceMetrics.None);
    }

    public SourceKind Kind => NvmlSchema.Kind;

    /// <summary>The source as a daemon creates it (its registration in <c>DeviceSources</c>).</summary>
    public static NvmlSource Create(SourceContext context) => new(
        new NvmlSourceOptions
        {
            LibraryPath = context.Options.NvmlLibrary,
            DriverRoot = context.Options.DriverRoot,
            SysfsRoot = context.Options.SysfsRoot,
            DevRoot = context.Options.DevRoot,
            ProcRoot = context.Options.ProcRoot,
            FailOnInitError = context.FailOnInitError,
        },
        context.Sink, context.Time, context.Loggers, context.Metrics, context.Loops);

    /// <summary>GPUs NVML reported in MIG mode, which are never advertised whole (also the metric <c>device_plugin_nvml_mig_gpus_skipped</c>).</summary>
    public int MigGpusSkipped => Volatile.Read(ref _session)?.MigGpusSkipped ?? 0;

    /// <summary>True while NVML is initialised and GPUs are being advertised and watched.</summary>
    public bool IsRunning => Volatile.Read(ref _session) is not null;

    public async Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken)
    {
        await _apply.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var mine = assignment.Resources;
            var health = assignment.Health;
            lock (_publish)
            {
                _resources = mine;
                _health = health;
            }

            if (mine.IsEmpty)
            {
                await StopRetryAsync();
                StopSession();
                PublishCurrent();
                return;
            }

            if (_session is { } running)
            {
                running.Monitor.UpdateHealthConfig(health);
                PublishCurrent();
                return;
            }

            if (_retry is not null)
            {
                // Degraded: the retry loop picks up the new resources when NVML starts.
                PublishCurrent();
                return;
            }

            try
            {
                StartSession(health);
                _sink.SourceRunning(NvmlSchema.Kind);
            }
            catch (SourceInitException e) when (!_options.FailOnInitError)
            {
                _sink.SourceFailed(NvmlSchema.Kind, e);
                NvmlLog.RunningDegraded(_logger, e.Message, _options.RetryInterval.TotalSeconds);
                PublishCurrent();
                StartRetry();
            }
        }
        finally
        {
            _apply.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _apply.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await StopRetryAsync();
            StopSession();
        }
        finally
        {
            _apply.Release();
        }
    }

    /// <summary>Starts NVML and publishes the first devices. Caller holds <see cref="_apply"/>.</summary>
    private void StartSession(HealthConfig health)
    {
        NvmlSession? session = null;
        session = NvmlSession.Start(_options, health, _time, _metrics, _logger, () => PublishIfCurrent(session), _loops);
        lock (_publish)
        {
            Volatile.Write(ref _session, session);
        }

        PublishCurrent();
    }

    /// <summary>Stops health monitoring and shuts NVML down. Caller holds <see cref="_apply"/>, not <see cref="_publish"/>.</summary>
    private void StopSession()
    {
        NvmlSession? session;
        lock (_publish)
        {
            session = _session;
            Volatile.Write(ref _session, null);
        }

        session?.Dispose();
    }

    private void StartRetry()
    {
        _retryCancel = new CancellationTokenSource();
        var token = _retryCancel.Token;
        _retry = Task.Run(() => RetryLoopAsync(token), CancellationToken.None);
    }

    private async Task StopRetryAsync()
    {
        if (_retryCancel is null || _retry is null)
        {
            return;
        }

        await _retryCancel.CancelAsync();
        await _retry.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _retryCancel.Dispose();
        _retryCancel = null;
        _retry = null;
    }

    /// <summary>Retries NVML start-up until it works (a driver loaded after the daemon) or the loop is cancelled.</summary>
    private async Task RetryLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(_options.RetryInterval, cancellationToken);

            // ApplyAsync and DisposeAsync cancel this loop while holding _apply, so never wait for it here:
            // a failed TryWait just means "try again next interval".
            if (!await _apply.WaitAsync(0, CancellationToken.None))
            {
                continue;
            }

            try
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                HealthConfig health;
                lock (_publish)
                {
                    health = _health;
                }

                StartSession(health);
                NvmlLog.RetrySucceeded(_logger);
                _retryWarnings.Reset();
                _sink.SourceRunning(NvmlSchema.Kind);
                _retry = null;
                _retryCancel?.Dispose();
                _retryCancel = null;
                return;
            }
            catch (SourceInitException e)
            {
                RetryFailed(e);
            }
            catch (Exception e)
            {
                // Whatever went wrong, the daemon asked to keep trying rather than fail.
                RetryFailed(new SourceInitException($"the nvml source failed to start: {e}", e));
            }
            finally
            {
                _apply.Release();
            }
        }
    }

    /// <summary>Counts every failed retry; logs it at Warning when the reason changed or the last warning is old enough.</summary>
    private void RetryFailed(SourceInitException e)
    {
        _sink.SourceFailed(NvmlSchema.Kind, e);
        if (_retryWarnings.ShouldLog(e.Message, _time.GetUtcNow(), out var suppressed))
        {
            NvmlLog.RetryFailed(_logger, e.Message, suppressed, _options.RetryWarningInterval.TotalMinutes);
        }
    }

    /// <summary>Builds and publishes the complete set of this source's resources (empty while NVML is not running).</summary>
    private void PublishCurrent()
    {
        lock (_publish)
        {
            _sink.Publish(NvmlSchema.Kind, BuildResources());
        }
    }

    /// <summary>
    /// The health thread's change callback: publishes only while its session is the running one (a change seen
    /// before start-up finished is published by the start-up itself).
    /// </summary>
    private void PublishIfCurrent(NvmlSession? session)
    {
        lock (_publish)
        {
            if (session is not null && ReferenceEquals(session, _session))
            {
                _sink.Publish(NvmlSchema.Kind, BuildResources());
            }
        }
    }

    /// <summary>The published resources now, remembering which <c>single</c> resources refuse. Caller holds <see cref="_publish"/>.</summary>
    private ImmutableArray<PublishedResource> BuildResources()
    {
        var built = NvmlPublishedResources.BuildAll(_session, _resources, _refusals, _logger, out var refusals);
        _refusals = refusals;
        return built;
    }
}
