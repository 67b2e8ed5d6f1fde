using Prometheus;

namespace DevicePlugin.Hosting;

/// <summary>
/// The last error of every background loop, for /readyz (a loop whose latest pass failed makes the daemon not ready,
/// naming the loop and the error) and for the metrics <c>device_plugin_background_loop_errors_total{loop}</c> and
/// <c>device_plugin_background_loop_failing{loop}</c>.
/// </summary>
public sealed class LoopHealth
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _failing = new(StringComparer.Ordinal);
    private readonly HashSet<string> _notForReadiness = new(StringComparer.Ordinal);
    private readonly Counter? _errors;
    private readonly Gauge? _failingGauge;

    public LoopHealth(CollectorRegistry? registry = null)
    {
        if (registry is not null)
        {
            var factory = Prometheus.Metrics.WithCustomRegistry(registry);
            _errors = factory.CreateCounter("device_plugin_background_loop_errors_total", "Failed passes of each background loop.", "loop");
            _failingGauge = factory.CreateGauge("device_plugin_background_loop_failing", "1 while the latest pass of the background loop failed, else 0.", "loop");
        }
    }

    /// <summary>Loops whose latest pass failed, with that error.</summary>
    public IReadOnlyDictionary<string, string> Failing
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, string>(_failing, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Failing loops that make the daemon not ready (all but those whose failures readiness reads elsewhere).</summary>
    public int FailingForReadiness
    {
        get
        {
            lock (_lock)
            {
                return _failing.Keys.Count(l => !_notForReadiness.Contains(l));
            }
        }
    }

    /// <param name="affectsReadiness">false for a loop whose failures readiness already reads from elsewhere (a
    /// source's start retries: the source status decides, and a source the defaults tried is allowed to fail)</param>
    public void Failed(string loop, Exception error, bool affectsReadiness = true)
    {
        lock (_lock)
        {
            _failing[loop] = $"{error.GetType().Name}: {error.Message}";
            if (affectsReadiness)
            {
                _notForReadiness.Remove(loop);
            }
            else
            {
                _notForReadiness.Add(loop);
            }
        }

        _errors?.WithLabels(loop).Inc();
        _failingGauge?.WithLabels(loop).Set(1);
    }

    /// <summary>The loop was stopped: it is failing no more (its error count stays).</summary>
    public void Stopped(string loop)
    {
        bool was;
        lock (_lock)
        {
            was = _failing.Remove(loop);
        }

        if (was)
        {
            _failingGauge?.WithLabels(loop).Set(0);
        }
    }

    public void Succeeded(string loop)
    {
        bool was;
        lock (_lock)
        {
            was = _failing.Remove(loop);
        }

        if (was || _failingGauge is not null)
        {
            _failingGauge?.WithLabels(loop).Set(0);
        }
    }
}
