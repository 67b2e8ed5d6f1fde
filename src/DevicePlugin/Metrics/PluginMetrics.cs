using System.Diagnostics;
using System.Diagnostics.Metrics;
using DevicePlugin.Inventory;

namespace DevicePlugin.Metrics;

/// <summary>
/// The daemon's own instruments, on a <see cref="Meter"/> named <see cref="MeterName"/> (one per daemon instance, so
/// in-process tests don't mix). prometheus-net exports every such meter on <c>/metrics</c>.
/// </summary>
public sealed class PluginMetrics : IDisposable
{
    public const string MeterName = "DevicePlugin";

    private readonly Meter _meter;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _allocations;
    private readonly Histogram<double> _allocateSeconds;
    private readonly Counter<long> _preferred;
    private readonly Counter<long> _configReloads;
    private readonly Counter<long> _sourceFailures;

    public PluginMetrics(Func<IEnumerable<ResourceSnapshot>> resources, Func<IEnumerable<(string Resource, bool Registered)>> registrations)
    {
        _meter = new Meter(MeterName);
        _meter.CreateObservableGauge("device_plugin_devices", () => ObserveDevices(resources()),
            description: "Physical devices per resource and health.");
        _meter.CreateObservableGauge("device_plugin_advertised_ids", () => ObserveAdvertised(resources()),
            description: "IDs advertised to the kubelet per resource (replicas included).");
        _meter.CreateObservableGauge("device_plugin_resource_registered",
            () => registrations().Select(r => new Measurement<int>(r.Registered ? 1 : 0, new KeyValuePair<string, object?>("resource", r.Resource))),
            description: "1 while the resource is registered with the kubelet, else 0.");
        _registrations = _meter.CreateCounter<long>("device_plugin_registrations_total",
            description: "Register calls to the kubelet by resource and result.");
        _allocations = _meter.CreateCounter<long>("device_plugin_allocate_requests_total",
            description: "Allocate calls by resource and result (ok or the gRPC status).");
        _allocateSeconds = _meter.CreateHistogram<double>("device_plugin_allocate_duration_seconds",
            unit: "s", description: "Time to answer Allocate.");
        _preferred = _meter.CreateCounter<long>("device_plugin_preferred_allocation_requests_total",
            description: "GetPreferredAllocation calls by resource.");
        _configReloads = _meter.CreateCounter<long>("device_plugin_config_reloads_total",
            description: "Configuration file changes by result (applied or rejected).");
        _sourceFailures = _meter.CreateCounter<long>("device_plugin_source_init_failures_total",
            description: "Sources that could not start, by source.");
    }

    public void Registration(string resource, bool ok) =>
        _registrations.Add(1, new KeyValuePair<string, object?>("resource", resource), new KeyValuePair<string, object?>("result", ok ? "ok" : "error"));

    public void Allocation(string resource, string result, TimeSpan elapsed)
    {
        var tags = new TagList { { "resource", resource }, { "result", result } };
        _allocations.Add(1, tags);
        _allocateSeconds.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("resource", resource));
    }

    public void PreferredAllocation(string resource) =>
        _preferred.Add(1, new KeyValuePair<string, object?>("resource", resource));

    public void ConfigReload(bool applied) =>
        _configReloads.Add(1, new KeyValuePair<string, object?>("result", applied ? "applied" : "rejected"));

    public void SourceInitFailure(SourceKind source) =>
        _sourceFailures.Add(1, new KeyValuePair<string, object?>("source", source.ToConfigName()));

    private static IEnumerable<Measurement<int>> ObserveDevices(IEnumerable<ResourceSnapshot> resources)
    {
        foreach (var r in resources)
        {
            var healthy = r.Devices.Count(d => d.Health == DeviceHealth.Healthy);
            yield return new Measurement<int>(healthy, new("resource", r.ResourceName), new("health", "Healthy"));
            yield return new Measurement<int>(r.Devices.Length - healthy, new("resource", r.ResourceName), new("health", "Unhealthy"));
        }
    }

    private static IEnumerable<Measurement<int>> ObserveAdvertised(IEnumerable<ResourceSnapshot> resources) =>
        resources.Select(r => new Measurement<int>(r.Advertised.Length, new KeyValuePair<string, object?>("resource", r.ResourceName)));

    public void Dispose() => _meter.Dispose();
}
