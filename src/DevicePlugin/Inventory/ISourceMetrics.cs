namespace DevicePlugin.Inventory;

/// <summary>
/// Where a source exports gauges of its own (read at scrape time): the metrics of the daemon that created it, handed
/// to it at creation. Never process-wide, so two daemons in one process keep their metrics apart. Names get the
/// <c>device_plugin_</c> prefix. Faults go through <see cref="IInventorySink.RecordFault"/>, not here.
/// </summary>
public interface ISourceMetrics
{
    /// <summary>A gauge without labels, read by <paramref name="read"/> at every scrape.</summary>
    void Gauge(string name, string help, Func<double> read);

    /// <summary>A labelled gauge: at every scrape exactly the series <paramref name="read"/> returns.</summary>
    void Gauge(string name, string help, string[] labelNames, Func<IEnumerable<(string[] Labels, double Value)>> read);

    /// <summary>Exports nothing (a source built outside a daemon, as in tests).</summary>
    public static ISourceMetrics None { get; } = new NoSourceMetrics();

    private sealed class NoSourceMetrics : ISourceMetrics
    {
        public void Gauge(string name, string help, Func<double> read)
        {
        }

        public void Gauge(string name, string help, string[] labelNames, Func<IEnumerable<(string[] Labels, double Value)>> read)
        {
        }
    }
}
