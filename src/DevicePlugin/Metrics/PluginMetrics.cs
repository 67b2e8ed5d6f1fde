using System.Diagnostics.Metrics;
using DevicePlugin.Inventory;
using Prometheus;

namespace DevicePlugin.Metrics;

/// <summary>
/// The daemon's metrics and the Prometheus registry served on <c>/metrics</c>. Each daemon has its own registry, so
/// several daemons in one test process don't mix. The daemon's own metrics are prometheus-net counters, gauges and
/// histograms; instruments that sources create with System.Diagnostics.Metrics on a meter named
/// <see cref="MeterName"/> are exported too, through <see cref="MeterBridge"/>.
/// </summary>
public sealed class PluginMetrics : IDisposable
{
    public const string MeterName = "device_plugin";

    private readonly IDisposable _adapter;
    private readonly Counter _registrations;
    private readonly Counter _allocations;
    private readonly Histogram _allocateSeconds;
    private readonly Counter _preferred;
    private readonly Counter _configReloads;
    private readonly Counter _sourceFailures;

    public PluginMetrics(Func<IEnumerable<ResourceSnapshot>> resources, Func<IEnumerable<(string Resource, bool Registered)>> registrations)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);

        var devices = factory.CreateGauge("device_plugin_devices", "Physical devices per resource and health.", "resource", "health");
        var advertised = factory.CreateGauge("device_plugin_advertised_ids", "IDs advertised to the kubelet per resource (replicas included).", "resource");
        var registered = factory.CreateGauge("device_plugin_resource_registered", "1 while the resource is registered with the kubelet, else 0.", "resource");
        Registry.AddBeforeCollectCallback(() =>
        {
            // Gauges are read from the current inventory at scrape time; resources that are gone are removed.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var r in resources())
            {
                seen.Add(r.ResourceName);
                var healthy = r.Devices.Count(d => d.Health == DeviceHealth.Healthy);
                devices.WithLabels(r.ResourceName, "Healthy").Set(healthy);
                devices.WithLabels(r.ResourceName, "Unhealthy").Set(r.Devices.Length - healthy);
                advertised.WithLabels(r.ResourceName).Set(r.Advertised.Length);
            }

            foreach (var (resource, isRegistered) in registrations())
            {
                registered.WithLabels(resource).Set(isRegistered ? 1 : 0);
            }

            foreach (var labels in devices.GetAllLabelValues().Where(l => !seen.Contains(l[0])).ToArray())
            {
                devices.RemoveLabelled(labels);
            }

            foreach (var labels in advertised.GetAllLabelValues().Where(l => !seen.Contains(l[0])).ToArray())
            {
                advertised.RemoveLabelled(labels);
                registered.RemoveLabelled(labels);
            }
        });

        _registrations = factory.CreateCounter("device_plugin_registrations_total", "Register calls to the kubelet by resource and result.", "resource", "result");
        _allocations = factory.CreateCounter("device_plugin_allocate_requests_total", "Allocate calls by resource and result (ok or the gRPC status).", "resource", "result");
        _allocateSeconds = factory.CreateHistogram("device_plugin_allocate_duration_seconds", "Time to answer Allocate.",
            ["resource"], new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.00001, 4, 10) });
        _preferred = factory.CreateCounter("device_plugin_preferred_allocation_requests_total", "GetPreferredAllocation calls by resource.", "resource");
        _configReloads = factory.CreateCounter("device_plugin_config_reloads_total", "Configuration file changes by result (applied or rejected).", "result");
        _sourceFailures = factory.CreateCounter("device_plugin_source_init_failures_total", "Sources that could not start, by source.", "source");

        _adapter = new MeterBridge(Registry);
    }

    /// <summary>The Prometheus registry served on /metrics.</summary>
    public CollectorRegistry Registry { get; }

    public void Registration(string resource, bool ok) => _registrations.WithLabels(resource, ok ? "ok" : "error").Inc();

    public void Allocation(string resource, string result, TimeSpan elapsed)
    {
        _allocations.WithLabels(resource, result).Inc();
        _allocateSeconds.WithLabels(resource).Observe(elapsed.TotalSeconds);
    }

    public void PreferredAllocation(string resource) => _preferred.WithLabels(resource).Inc();

    public void ConfigReload(bool applied) => _configReloads.WithLabels(applied ? "applied" : "rejected").Inc();

    public void SourceInitFailure(SourceKind source) => _sourceFailures.WithLabels(source.ToConfigName()).Inc();

    public void Dispose() => _adapter.Dispose();
}
