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
    /// <summary>The <c>nvml-start</c> loop while NVML start-up is retried (degraded mode).</summary>
    private BackgroundLoop? _retry;
    private bool _disposed;
    private readonly LoopHealth? _loops;

    /// <param name="metrics">The daemon's metrics, where the source's own gauges go; none when null.</param>
    /// <param name="loops">Where the health and start-retry loops' failures show (/readyz and the background_loop metrics); none when null.</param>
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
            HardwareOptional = context.BuiltInDefaults,
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
                if (e.NoHardware && _options.HardwareOptional)
                {
                    NvmlLog.NoNvidiaHardware(_logger, e.Message, _options.RetryInterval.TotalSeconds);
                }
                else
                {
                    NvmlLog.RunningDegraded(_logger, e.Message, _options.RetryInterval.TotalSeconds);
                }

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

    /// <summary>Starts the loop that retries NVML start-up. Caller holds <see cref="_apply"/>.</summary>
    private void StartRetry()
    {
        // Readiness reads the start failure from the source status (a source the defaults tried may fail), so the
        // loop's failures show in its logs and metrics without making the daemon unready a second time.
        _retry = new BackgroundLoop("nvml-start", RetryPassAsync, _logger, _loops, period: _options.RetryInterval,
            retryAfter: _options.RetryInterval, time: _time, remindEvery: _options.RetryWarningInterval, affectsReadiness: false,
            failureLevel: LogLevel.Warning);
        _retry.Start();
    }

    /// <summary>Stops the retry loop, if any. Caller holds <see cref="_apply"/>.</summary>
    private async Task StopRetryAsync()
    {
        if (_retry is not { } retry)
        {
            return;
        }

        _retry = null;
        await retry.DisposeAsync();
    }

    /// <summary>
    /// One pass of the <c>nvml-start</c> loop: tries NVML start-up again (a driver loaded after the daemon). A failure is
    /// reported to the sink (source status, /readyz) and thrown for the loop to log, count and retry; success ends the loop.
    /// </summary>
    private async Task RetryPassAsync(CancellationToken cancellationToken)
    {
        // ApplyAsync and DisposeAsync stop this loop while holding _apply: the stop cancels this wait.
        await _apply.WaitAsync(cancellationToken);
        try
        {
            if (_session is not null || _retry is not { } loop)
            {
                return;
            }

            HealthConfig health;
            lock (_publish)
            {
                health = _health;
            }

            try
            {
                StartSession(health);
            }
            catch (SourceInitException e)
            {
                _sink.SourceFailed(NvmlSchema.Kind, e);
                throw;
            }
            catch (Exception e)
            {
                // Whatever went wrong, the daemon asked to keep trying rather than fail.
                var failed = new SourceInitException($"the nvml source failed to start: {e.GetType().Name}: {e.Message}", e);
                _sink.SourceFailed(NvmlSchema.Kind, failed);
                throw failed;
            }

            NvmlLog.RetrySucceeded(_logger);
            _sink.SourceRunning(NvmlSchema.Kind);
            // The loop ends after this pass; StopRetryAsync disposes it when the resources go or the source does.
            loop.RequestStop();
        }
        finally
        {
            _apply.Release();
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
