// Over 300 lines on purpose: every metric family is created in the one constructor, so each has its HELP and TYPE
// from the first scrape and the list of families is in one place; the sources' gauges are in PluginMetrics.SourceGauges.cs.
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Prometheus;

namespace DevicePlugin.Metrics;

/// <summary>What /metrics reads from one resource server at scrape time.</summary>
public readonly record struct ServerStatus(string Resource, bool Registered, int Streams);

/// <summary>
/// The daemon's metrics and the Prometheus registry served on <c>/metrics</c> (docs/metrics.md lists them). Each
/// daemon has its own registry, so several daemons in one test process don't mix. Every family is created here, at
/// start, so its <c># HELP</c> and <c># TYPE</c> are there from the first scrape; counters are exported at 0 for
/// every label set known in advance (each resource's <c>ok</c> results, each device's fault kinds). Labels hold only
/// bounded values: resource names, device IDs, fixed words, and the pods on this node. Gauges about devices and pods
/// are read from the current inventory at scrape time, so series of devices or pods that are gone disappear.
/// Sources export gauges of their own through it (<see cref="ISourceMetrics"/>), into this registry only.
/// </summary>
public sealed partial class PluginMetrics : ISourceMetrics, IDisposable
{
    /// <summary>The prefix of every family.</summary>
    public const string Prefix = "device_plugin_";

    /// <summary>Allocate and GetPreferredAllocation answer from memory: 10 µs to about 2.6 s.</summary>
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.00001, 4, 10);

    private readonly MetricFactory _factory;
    private readonly Func<IEnumerable<ResourceSnapshot>> _resources;
    private readonly Lock _scrape = new();
    private readonly Counter _registrations;
    private readonly Counter _allocations;
    private readonly Histogram _allocateSeconds;
    private readonly Counter _preferred;
    private readonly Histogram _preferredSeconds;
    private readonly Counter _configReloads;
    private readonly Counter _sourceFailures;
    private readonly Gauge _sourceUp;
    private readonly Counter _faults;
    private readonly Counter _transitions;
    private readonly Gauge _podResourcesUp;
    private readonly Gauge _allocation;

    /// <summary>The last fault kind seen per device: the cause of the transition it brings.</summary>
    private readonly ConcurrentDictionary<string, string> _causes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AllocationSeries> _okAllocations = new(StringComparer.Ordinal);

    private IDeviceHolders? _holders;

    public PluginMetrics(Func<IEnumerable<ResourceSnapshot>> resources, Func<IEnumerable<ServerStatus>> servers)
    {
        _resources = resources;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var factory = _factory = Prometheus.Metrics.WithCustomRegistry(Registry);

        var devices = factory.CreateGauge("device_plugin_devices", "Physical devices per resource and health.", "resource", "health");
        var advertised = factory.CreateGauge("device_plugin_advertised_ids", "IDs advertised to the kubelet per resource (replicas included).", "resource");
        var health = factory.CreateGauge("device_plugin_device_health",
            "1 while the physical device is healthy, 0 while unhealthy; replicas are not multiplied. Empty labels are unknown.",
            "resource", "device", "model", "numa_node", "pci_address");
        var registered = factory.CreateGauge("device_plugin_resource_registered", "1 while the resource is registered with the kubelet, else 0.", "resource");
        var streams = factory.CreateGauge("device_plugin_listandwatch_streams", "Open ListAndWatch streams per resource.", "resource");
        _transitions = factory.CreateCounter("device_plugin_device_health_transitions_total",
            "Health changes of physical devices, by the health reached (Healthy, Unhealthy) and a short cause (xid, dbe, lost, aer_fatal, config, recovered, ...).",
            "resource", "device", "to", "cause");
        _faults = factory.CreateCounter("device_plugin_device_faults_total",
            "Faults detected on physical devices, one scheme for every source: kind xid (code = the XID), dbe, lost, aer_fatal, driver_unbound, unplugged, node_missing.",
            "resource", "device", "kind", "code");
        _registrations = factory.CreateCounter("device_plugin_registrations_total", "Register calls to the kubelet by resource and result (ok or error).", "resource", "result");
        _allocations = factory.CreateCounter("device_plugin_allocate_requests_total", "Allocate calls by resource and result (ok or the gRPC status code).", "resource", "result");
        _allocateSeconds = factory.CreateHistogram("device_plugin_allocate_duration_seconds", "Time to answer Allocate.",
            ["resource"], new HistogramConfiguration { Buckets = LatencyBuckets });
        _preferred = factory.CreateCounter("device_plugin_preferred_allocation_requests_total",
            "GetPreferredAllocation calls by resource and result (ok or the gRPC status code).", "resource", "result");
        _preferredSeconds = factory.CreateHistogram("device_plugin_preferred_allocation_duration_seconds", "Time to answer GetPreferredAllocation.",
            ["resource"], new HistogramConfiguration { Buckets = LatencyBuckets });
        _configReloads = factory.CreateCounter("device_plugin_config_reloads_total", "Configuration file changes by result (applied or rejected).", "result");
        _sourceFailures = factory.CreateCounter("device_plugin_source_init_failures_total",
            "Failures of a source to start, to start again on a retry, or to read its hardware, by source.", "source");
        _sourceUp = factory.CreateGauge("device_plugin_source_up",
            "1 while a source the configuration uses runs, 0 while it has failed (it retries), by source.", "source");
        _podResourcesUp = factory.CreateGauge("device_plugin_pod_resources_up",
            "1 while the kubelet's PodResources socket answers List, else 0 (missing, failing or turned off).");
        _allocation = factory.CreateGauge("device_plugin_device_allocation",
            "1 per container holding a physical device, from the kubelet's PodResources API (a replica counts for its device).",
            "resource", "device", "namespace", "pod", "container");
        var (version, commit) = BuildVersion();
        factory.CreateGauge("device_plugin_build_info", "Always 1; the daemon's version and source commit (empty when unknown).", "version", "commit")
            .WithLabels(version, commit).Set(1);

        _configReloads.WithLabels("applied");
        _configReloads.WithLabels("rejected");

        Registry.AddBeforeCollectCallback(async cancel =>
        {
            if (Volatile.Read(ref _holders) is { } holders)
            {
                // Refreshes only when the last answer is older than the poll period, with its own short timeout.
                await holders.RefreshIfStaleAsync(cancel);
            }
        });
        Registry.AddBeforeCollectCallback(() =>
        {
            lock (_scrape)
            {
                var snapshots = resources().ToArray();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                Clear(health);
                foreach (var r in snapshots)
                {
                    seen.Add(r.ResourceName);
                    var healthy = r.Devices.Count(d => d.Health == DeviceHealth.Healthy);
                    devices.WithLabels(r.ResourceName, "Healthy").Set(healthy);
                    devices.WithLabels(r.ResourceName, "Unhealthy").Set(r.Devices.Length - healthy);
                    advertised.WithLabels(r.ResourceName).Set(r.Advertised.Length);
                    KnownLabelSets(r);
                    foreach (var d in r.Devices)
                    {
                        health.WithLabels(r.ResourceName, d.Id, ModelOf(d),
                                d.NumaNode?.ToString(CultureInfo.InvariantCulture) ?? "", d.PciAddress ?? "")
                            .Set(d.Health == DeviceHealth.Healthy ? 1 : 0);
                    }
                }

                foreach (var s in servers())
                {
                    registered.WithLabels(s.Resource).Set(s.Registered ? 1 : 0);
                    streams.WithLabels(s.Resource).Set(s.Streams);
                }

                RemoveGone(devices, seen);
                RemoveGone(advertised, seen);
                RemoveGone(registered, seen);
                RemoveGone(streams, seen);
                ExportAllocations(snapshots);
            }
        });
    }

    /// <summary>The Prometheus registry served on /metrics.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Where pod holders come from (the PodResources client); null: no pod series, pod_resources_up 0.</summary>
    public IDeviceHolders? Holders
    {
        get => Volatile.Read(ref _holders);
        set => Volatile.Write(ref _holders, value);
    }

    public void Registration(string resource, bool ok) => _registrations.WithLabels(resource, ok ? "ok" : "error").Inc();

    public void Allocation(string resource, string result, TimeSpan elapsed)
    {
        if (result == "ok")
        {
            // The common case: a resource's labelled series are looked up once, not built again on every call.
            var series = _okAllocations.GetOrAdd(resource, static (r, self) =>
                new AllocationSeries(self._allocations.WithLabels(r, "ok"), self._allocateSeconds.WithLabels(r)), this);
            series.Count.Inc();
            series.Seconds.Observe(elapsed.TotalSeconds);
            return;
        }

        _allocations.WithLabels(resource, result).Inc();
        _allocateSeconds.WithLabels(resource).Observe(elapsed.TotalSeconds);
    }

    private sealed record AllocationSeries(Counter.Child Count, Histogram.Child Seconds);

    public void PreferredAllocation(string resource, string result, TimeSpan elapsed)
    {
        _preferred.WithLabels(resource, result).Inc();
        _preferredSeconds.WithLabels(resource).Observe(elapsed.TotalSeconds);
    }

    public void ConfigReload(bool applied) => _configReloads.WithLabels(applied ? "applied" : "rejected").Inc();

    public void SourceInitFailure(SourceKind source) => _sourceFailures.WithLabels(source.ToConfigName()).Inc();

    public void SourceUp(SourceKind source, bool up) => _sourceUp.WithLabels(source.ToConfigName()).Set(up ? 1 : 0);

    /// <summary>The configuration no longer uses the source: its <c>device_plugin_source_up</c> series goes.</summary>
    public void SourceGone(SourceKind source) => _sourceUp.RemoveLabelled(source.ToConfigName());

    /// <summary>Counts a fault against one resource and remembers its kind as the cause of the next transition.</summary>
    public void Fault(string resource, DeviceFault fault)
    {
        if (fault.Device.Length > 0)
        {
            _causes[fault.Device] = fault.Kind;
        }

        if (fault.Counted)
        {
            _faults.WithLabels(resource, fault.Device, fault.Kind, fault.Code).Inc();
        }
    }

    /// <summary>The kind of the last fault recorded for the device since the last call, if any.</summary>
    public string? TakeCause(string device) => _causes.TryRemove(device, out var cause) ? cause : null;

    public void HealthTransition(string resource, string device, DeviceHealth to, string cause) =>
        _transitions.WithLabels(resource, device, to.ToString(), cause).Inc();

    /// <summary>The model label: the source's <c>model</c> attribute, else its <c>name</c>, else empty.</summary>
    public static string ModelOf(PhysicalDevice device) =>
        device.Attributes.TryGetValue("model", out var model) ? model
        : device.Attributes.TryGetValue("name", out var name) ? name
        : "";

    /// <summary>The version (without build metadata) and the source commit the SDK recorded, when it did.</summary>
    public static (string Version, string Commit) BuildVersion()
    {
        var assembly = typeof(PluginMetrics).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? (informational, "") : (informational[..plus], informational[(plus + 1)..]);
    }

    /// <summary>Label sets exported at 0 before anything happens, so rates and alerts work from the first scrape.</summary>
    private void KnownLabelSets(ResourceSnapshot r)
    {
        _registrations.WithLabels(r.ResourceName, "ok");
        _registrations.WithLabels(r.ResourceName, "error");
        _allocations.WithLabels(r.ResourceName, "ok");
        _allocateSeconds.WithLabels(r.ResourceName);
        _preferred.WithLabels(r.ResourceName, "ok");
        _preferredSeconds.WithLabels(r.ResourceName);
        var kinds = DeviceFaultKind.UncodedKindsOf(r.Source);
        foreach (var d in r.Devices)
        {
            foreach (var kind in kinds)
            {
                _faults.WithLabels(r.ResourceName, d.Id, kind, "");
            }
        }
    }

    private void ExportAllocations(ResourceSnapshot[] snapshots)
    {
        Clear(_allocation);
        var holders = Volatile.Read(ref _holders);
        if (holders is null || !holders.Up)
        {
            _podResourcesUp.Set(0);
            return;
        }

        _podResourcesUp.Set(1);
        var byName = snapshots.ToDictionary(s => s.ResourceName, StringComparer.Ordinal);
        var exported = new HashSet<(string, string, string, string, string)>();
        foreach (var h in holders.Holders)
        {
            if (!byName.ContainsKey(h.Resource))
            {
                // Another plugin's resource: not ours to export.
                continue;
            }

            var device = PhysicalIdOf(byName.GetValueOrDefault(h.Resource), h.DeviceId);
            if (exported.Add((h.Resource, device, h.Namespace, h.Pod, h.Container)))
            {
                _allocation.WithLabels(h.Resource, device, h.Namespace, h.Pod, h.Container).Set(1);
            }
        }
    }

    /// <summary>
    /// The physical device an advertised ID stands for: the snapshot's answer, else the ID without a replica suffix
    /// <c>::k</c> (a device that left the inventory while a pod still holds it).
    /// </summary>
    public static string PhysicalIdOf(ResourceSnapshot? snapshot, string advertisedId)
    {
        if (snapshot is not null && snapshot.TryGet(advertisedId, out var advertised))
        {
            return snapshot.Devices[advertised.DeviceIndex].Id;
        }

        var sep = advertisedId.LastIndexOf("::", StringComparison.Ordinal);
        return sep > 0 && advertisedId.AsSpan(sep + 2).Length > 0 && int.TryParse(advertisedId.AsSpan(sep + 2), NumberStyles.None, CultureInfo.InvariantCulture, out _)
            ? advertisedId[..sep]
            : advertisedId;
    }

    private static void Clear(Gauge gauge)
    {
        foreach (var labels in gauge.GetAllLabelValues().ToArray())
        {
            gauge.RemoveLabelled(labels);
        }
    }

    private static void RemoveGone(Gauge gauge, HashSet<string> resources)
    {
        foreach (var labels in gauge.GetAllLabelValues().Where(l => !resources.Contains(l[0])).ToArray())
        {
            gauge.RemoveLabelled(labels);
        }
    }

    public void Dispose()
    {
    }
}
