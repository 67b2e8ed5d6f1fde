using System.Collections.Concurrent;
using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>Keeps the gauges a source registers, so a test can read them as a scrape would.</summary>
public sealed class RecordingSourceMetrics : ISourceMetrics
{
    private readonly ConcurrentDictionary<string, Func<IEnumerable<(string[] Labels, double Value)>>> _gauges = new(StringComparer.Ordinal);

    public void Gauge(string name, string help, Func<double> read) => _gauges[name] = () => [([], read())];

    public void Gauge(string name, string help, string[] labelNames, Func<IEnumerable<(string[] Labels, double Value)>> read) =>
        _gauges[name] = read;

    /// <summary>The series of a gauge now (as a scrape reads it); fails when the source registered no such gauge.</summary>
    public IReadOnlyList<(string[] Labels, double Value)> Read(string name) =>
        _gauges.TryGetValue(name, out var read) ? [.. read()] : throw new Xunit.Sdk.XunitException($"no gauge {name} registered");
}
