using DevicePlugin.Tests.TestSupport;
using Grpc.Core;

namespace DevicePlugin.Tests.Metrics;

/// <summary>/metrics of a running daemon against the kubelet emulator: families, labels and counters.</summary>
public sealed class MetricFamiliesTests
{
    /// <summary>Every family the daemon exports itself, with its type and label names (docs/metrics.md).</summary>
    public static readonly (string Name, string Type, string[] Labels)[] Families =
    [
        ("device_plugin_devices", "gauge", ["resource", "health"]),
        ("device_plugin_advertised_ids", "gauge", ["resource"]),
        ("device_plugin_device_health", "gauge", ["resource", "device", "model", "numa_node", "pci_address"]),
        ("device_plugin_device_health_transitions_total", "counter", ["resource", "device", "to", "cause"]),
        ("device_plugin_device_faults_total", "counter", ["resource", "device", "kind", "code"]),
        ("device_plugin_allocate_requests_total", "counter", ["resource", "result"]),
        ("device_plugin_allocate_duration_seconds", "histogram", ["resource"]),
        ("device_plugin_preferred_allocation_requests_total", "counter", ["resource", "result"]),
        ("device_plugin_preferred_allocation_duration_seconds", "histogram", ["resource"]),
        ("device_plugin_registrations_total", "counter", ["resource", "result"]),
        ("device_plugin_resource_registered", "gauge", ["resource"]),
        ("device_plugin_listandwatch_streams", "gauge", ["resource"]),
        ("device_plugin_config_reloads_total", "counter", ["result"]),
        ("device_plugin_source_up", "gauge", ["source"]),
        ("device_plugin_source_init_failures_total", "counter", ["source"]),
        ("device_plugin_build_info", "gauge", ["version", "commit"]),
        ("device_plugin_pod_resources_up", "gauge", []),
        ("device_plugin_device_allocation", "gauge", ["resource", "device", "namespace", "pod", "container"]),
    ];

    [Fact]
    public async Task Every_family_has_help_and_type_from_the_first_scrape_and_counters_start_at_zero()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var metrics = await node.ScrapeAsync();

        foreach (var (name, type, _) in Families)
        {
            Assert.True(metrics.HasFamily(name), $"{name} has no HELP/TYPE:\n{metrics.Text}");
            Assert.Equal(type, metrics.Types[name]);
        }

        Assert.Equal(0, metrics.Value("device_plugin_config_reloads_total", ("result", "applied")));
        Assert.Equal(0, metrics.Value("device_plugin_config_reloads_total", ("result", "rejected")));
        Assert.Equal(1, metrics.Value("device_plugin_build_info"));
        Assert.NotEmpty(metrics.Of("device_plugin_build_info").Single()["version"]);
        Assert.Equal(0, metrics.Value("device_plugin_pod_resources_up"));
    }

    [Fact]
    public async Task Devices_allocations_streams_and_registrations_carry_the_documented_labels()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(sim1Health: "Unhealthy", replicas: 2));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 10, PluginNode.Wait);
        await plugin.AllocateAsync("sim-0::1");
        await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync("nope"));
        await plugin.GetPreferredAllocationAsync(["sim-0::0", "sim-2::0", "sim-3::0"], [], 2);
        var gpu = ("resource", Configs.Gpu);

        var metrics = await Eventually.ValueAsync(node.ScrapeAsync, m => m.Of("device_plugin_listandwatch_streams", gpu).Any(s => s.Value == 1));

        // One health series per physical device, replicas not multiplied; unknown labels are empty.
        var health = metrics.Of("device_plugin_device_health", gpu).ToArray();
        Assert.Equal(["sim-0", "sim-1", "sim-2", "sim-3", "sim-x"], health.Select(s => s["device"]).Order(StringComparer.Ordinal));
        Assert.Equal(0, metrics.Value("device_plugin_device_health", gpu, ("device", "sim-1")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health", gpu, ("device", "sim-0"), ("numa_node", "0"), ("model", ""), ("pci_address", "")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health", gpu, ("device", "sim-x"), ("numa_node", "")));
        foreach (var (name, _, labels) in Families)
        {
            Assert.All(metrics.Of(name), s => Assert.Equal(labels.Order(StringComparer.Ordinal), s.Labels.Keys.Order(StringComparer.Ordinal)));
        }

        Assert.Equal(1, metrics.Value("device_plugin_allocate_requests_total", gpu, ("result", "ok")));
        Assert.Equal(1, metrics.Value("device_plugin_allocate_requests_total", gpu, ("result", "NotFound")));
        Assert.Equal(2, metrics.Value("device_plugin_allocate_duration_seconds_count", gpu));
        Assert.Equal(1, metrics.Value("device_plugin_preferred_allocation_requests_total", gpu, ("result", "ok")));
        Assert.Equal(1, metrics.Value("device_plugin_preferred_allocation_duration_seconds_count", gpu));
        Assert.True(metrics.Value("device_plugin_registrations_total", gpu, ("result", "ok")) >= 1);
        Assert.Equal(0, metrics.Value("device_plugin_registrations_total", gpu, ("result", "error")));
        Assert.Equal(1, metrics.Value("device_plugin_resource_registered", gpu));
        Assert.Equal(1, metrics.Value("device_plugin_listandwatch_streams", gpu));
        Assert.Equal(4, metrics.Value("device_plugin_devices", gpu, ("health", "Healthy")));
        Assert.Equal(10, metrics.Value("device_plugin_advertised_ids", gpu));
    }

    [Fact]
    public async Task A_health_change_by_configuration_is_a_transition_with_cause_config_and_one_log_line()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        await node.RegistrationAsync(Configs.Gpu);
        await node.WriteConfigAsync(Configs.Simulated(sim1Health: "Unhealthy"));

        var metrics = await Eventually.ValueAsync(node.ScrapeAsync,
            m => m.Of("device_plugin_device_health_transitions_total", ("device", "sim-1")).Any());
        Assert.Equal(1, metrics.Value("device_plugin_device_health_transitions_total",
            ("resource", Configs.Gpu), ("device", "sim-1"), ("to", "Unhealthy"), ("cause", "config")));
        Assert.Single(metrics.Of("device_plugin_device_health_transitions_total"));
        Assert.Equal(1, metrics.Value("device_plugin_config_reloads_total", ("result", "applied")));
        const string line = "device sim-1 is now Unhealthy (cause config";
        await Eventually.TrueAsync(() => node.Logs.Contains(line), "the transition is logged");
        Assert.Single(node.Logs.Lines, m => m.Contains(line, StringComparison.Ordinal));

        await node.WriteConfigAsync(Configs.Simulated());
        metrics = await Eventually.ValueAsync(node.ScrapeAsync,
            m => m.Of("device_plugin_device_health_transitions_total", ("to", "Healthy")).Any());
        Assert.Equal(1, metrics.Value("device_plugin_device_health_transitions_total", ("device", "sim-1"), ("to", "Healthy"), ("cause", "config")));
    }
}
