using Prometheus;
using DevicePlugin.Inventory;

namespace DevicePlugin.Metrics;

/// <summary>
/// The sources' own gauges (<see cref="ISourceMetrics"/>), in this daemon's registry only: each is read at scrape time.
/// </summary>
public sealed partial class PluginMetrics
{
    public void Gauge(string name, string help, Func<double> read)
    {
        var gauge = _factory.CreateGauge(Prefix + name, help);
        Registry.AddBeforeCollectCallback(() =>
        {
            try
            {
                gauge.Set(read());
            }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
            {
                // A source being stopped: keep the last value rather than fail the scrape.
            }
        });
    }

    public void Gauge(string name, string help, string[] labelNames, Func<IEnumerable<(string[] Labels, double Value)>> read)
    {
        var gauge = _factory.CreateGauge(Prefix + name, help, labelNames);
        Registry.AddBeforeCollectCallback(() =>
        {
            (string[] Labels, double Value)[] series;
            try
            {
                series = [.. read()];
            }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
            {
                return;
            }

            // Exactly the series read now: ones no longer reported go.
            foreach (var labels in gauge.GetAllLabelValues().ToArray())
            {
                gauge.RemoveLabelled(labels);
            }

            foreach (var (labels, value) in series)
            {
                gauge.WithLabels(labels).Set(value);
            }
        });
    }
}
