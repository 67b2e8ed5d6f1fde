using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace DevicePlugin.Metrics;

/// <summary>
/// Exports System.Diagnostics.Metrics instruments on meters named <see cref="PluginMetrics.MeterName"/> (the sources'
/// instruments) into a prometheus-net registry as <c>device_plugin_&lt;instrument&gt;</c>: counters as counters,
/// observable gauges as gauges read at scrape time.
/// </summary>
/// <remarks>
/// prometheus-net has a MeterAdapter, but 8.2.1 exported nothing into a custom registry here, turns counters into
/// gauges that expire after at most a day, and loses increments made before its first scrape; this bridge is the
/// small part of it the daemon needs.
/// </remarks>
public sealed class MeterBridge : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly IMetricFactory _factory;
    private readonly ConcurrentDictionary<Instrument, Collector> _collectors = new();

    public MeterBridge(CollectorRegistry registry)
    {
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PluginMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        registry.AddBeforeCollectCallback(() =>
        {
            // Observable gauges report the current state: drop last scrape's series so that vanished ones go.
            foreach (var (instrument, collector) in _collectors)
            {
                if (collector is Gauge g && instrument is not Counter<long> and not Counter<int> and not Counter<double>)
                {
                    foreach (var labels in g.GetAllLabelValues().ToArray())
                    {
                        g.RemoveLabelled(labels);
                    }
                }
            }

            _listener.RecordObservableInstruments();
        });
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var names = new string[tags.Length];
        var values = new string[tags.Length];
        var order = new int[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            order[i] = i;
        }

        var tagArray = tags.ToArray();
        Array.Sort(order, (a, b) => string.CompareOrdinal(tagArray[a].Key, tagArray[b].Key));
        for (var i = 0; i < order.Length; i++)
        {
            names[i] = tagArray[order[i]].Key;
            values[i] = tagArray[order[i]].Value?.ToString() ?? "";
        }

        var name = $"{PluginMetrics.MeterName}_{instrument.Name}";
        var help = instrument.Description ?? instrument.Name;
        try
        {
            var isCounter = instrument is Counter<long> or Counter<int> or Counter<double>;
            var collector = _collectors.GetOrAdd(instrument, _ => isCounter
                ? _factory.CreateCounter(name, help, names)
                : _factory.CreateGauge(name, help, names));
            switch (collector)
            {
                case Counter c:
                    c.WithLabels(values).Inc(value);
                    break;
                case Gauge g:
                    g.WithLabels(values).Set(value);
                    break;
            }
        }
        catch (ArgumentException)
        {
            // Inconsistent label names for one instrument: the measurement cannot be exported; never fail the caller.
        }
        catch (InvalidOperationException)
        {
        }
    }

    public void Dispose() => _listener.Dispose();
}
