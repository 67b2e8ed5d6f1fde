using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Metrics;

namespace DevicePlugin.Sources;

/// <summary>
/// Which sources run and which failed, as the sources and the daemon report it: the sink handed to sources (it
/// forwards published devices and faults to the resource manager), the source of <c>device_plugin_source_up</c> and
/// <c>device_plugin_source_init_failures_total</c>, and of the source part of <c>/readyz</c>.
/// </summary>
/// <remarks>
/// Readiness: a configured source that failed keeps the daemon not ready until it runs. With the built-in defaults,
/// a source that found no hardware (no NVML library, no GPU) is no problem; one that errored (NVML loads but
/// nvmlInit fails, sysfs unreadable) is.
/// </remarks>
public sealed class SourceStatus(IInventorySink inner, PluginMetrics metrics) : IInventorySink
{
    private readonly Lock _lock = new();
    private readonly Dictionary<SourceKind, SourceInitException?> _states = [];
    private bool _defaults;

    /// <summary>Whether the configuration in force is the built-in defaults (set by the daemon on each apply).</summary>
    public bool Defaults
    {
        get
        {
            lock (_lock)
            {
                return _defaults;
            }
        }
        set
        {
            lock (_lock)
            {
                _defaults = value;
            }
        }
    }

    public void Publish(SourceKind source, ImmutableArray<PublishedResource> resources) => inner.Publish(source, resources);

    public void RecordFault(SourceKind source, DeviceFault fault) => inner.RecordFault(source, fault);

    public void SourceRunning(SourceKind source)
    {
        lock (_lock)
        {
            _states[source] = null;
            metrics.SourceUp(source, true);
        }
    }

    public void SourceFailed(SourceKind source, SourceInitException error)
    {
        lock (_lock)
        {
            _states[source] = error;
            metrics.SourceInitFailure(source);
            metrics.SourceUp(source, false);
        }
    }

    /// <summary>The configuration no longer uses the source: it is neither up nor a problem.</summary>
    public void SourceUnused(SourceKind source)
    {
        lock (_lock)
        {
            _states.Remove(source);
            metrics.SourceGone(source);
        }
    }

    /// <summary>What keeps the daemon from being ready, one entry per failed source naming it; empty when none.</summary>
    public ImmutableArray<string> Problems()
    {
        lock (_lock)
        {
            return [.. _states
                .Where(s => s.Value is { } e && !(_defaults && e.NoHardware))
                .OrderBy(s => s.Key)
                .Select(s => $"source {s.Key.ToConfigName()} failed: {s.Value!.Message}")];
        }
    }
}
