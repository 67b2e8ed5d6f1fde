using DevicePlugin.KubeletEmulator;
using DevicePlugin.Metrics;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Metrics;

/// <summary>
/// The pod on each device, from the emulator's PodResources v1 socket, as a running daemon's /metrics shows it. The
/// clock is manual: the poll period passes when the test says so.
/// </summary>
public sealed class PodAllocationMetricsTests
{
    private const string Whole = "example.com/gpu";
    private const string Shared = "example.com/shared";

    private const string Config = """
        resources:
          - name: example.com/gpu
            source: simulated
            devices:
              - id: gpu-0
                numa: 0
              - id: gpu-1
                numa: 1
          - name: example.com/shared
            source: simulated
            replicas: 3
            devices:
              - id: big-0
        """;

    private static async Task<(PluginNode Node, ManualTimeProvider Time)> StartAsync()
    {
        var time = new ManualTimeProvider();
        var node = await PluginNode.StartAsync(Config, time: time, podResources: true);
        foreach (var resource in (string[])[Whole, Shared])
        {
            var plugin = await node.RegistrationAsync(resource);
            await plugin.WaitForListAsync(l => l.Devices.Count > 0, PluginNode.Wait);
        }

        return (node, time);
    }

    /// <summary>Lets the poll period pass and scrapes until <paramref name="condition"/> holds.</summary>
    private static Task<PrometheusText> ScrapeAfterPeriodAsync(PluginNode node, ManualTimeProvider time, Func<PrometheusText, bool> condition) =>
        Eventually.ValueAsync(async () =>
        {
            time.Advance(PodResourcesPoller.Period);
            return await node.ScrapeAsync();
        }, condition);

    [Fact]
    public async Task Each_holder_of_a_device_or_of_a_replica_is_one_series_on_the_physical_device()
    {
        var (node, time) = await StartAsync();
        await using var _ = node;
        var trainer = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("trainer", Whole, 1, "ml"));
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("notebook-a", Shared, 1, "team"));
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("notebook-b", Shared, 1, "team"));
        var held = trainer.DevicesOf("main", Whole).Single();

        var metrics = await ScrapeAfterPeriodAsync(node, time, m => m.Of("device_plugin_device_allocation").Count() == 3);

        Assert.Equal(1, metrics.Value("device_plugin_pod_resources_up"));
        Assert.Equal(1, metrics.Value("device_plugin_device_allocation",
            ("resource", Whole), ("device", held), ("namespace", "ml"), ("pod", "trainer"), ("container", "main")));
        // Two replicas of one physical device, held by two pods: two series, both on big-0.
        var shared = metrics.Of("device_plugin_device_allocation", ("resource", Shared)).ToArray();
        Assert.All(shared, s => Assert.Equal(("big-0", "team", "main", 1.0), (s["device"], s["namespace"], s["container"], s.Value)));
        Assert.Equal(["notebook-a", "notebook-b"], shared.Select(s => s["pod"]).Order(StringComparer.Ordinal));

        // A freed device loses its series at the next poll.
        Assert.True(node.Kubelet.RemovePod("trainer", "ml"));
        metrics = await ScrapeAfterPeriodAsync(node, time, m => m.Of("device_plugin_device_allocation").Count() == 2);
        Assert.Empty(metrics.Of("device_plugin_device_allocation", ("resource", Whole)));
    }

    [Fact]
    public async Task The_socket_going_away_gives_pod_resources_up_zero_no_pod_series_no_error_and_one_log_line_each_way()
    {
        var (node, time) = await StartAsync();
        await using var _ = node;
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("trainer", Whole, 1, "ml"));
        await ScrapeAfterPeriodAsync(node, time, m => m.Of("device_plugin_device_allocation").Any());

        await node.Kubelet.StopAsync();
        Assert.False(File.Exists(node.PodResourcesSocket));
        var down = await ScrapeAfterPeriodAsync(node, time, m => m.Value("device_plugin_pod_resources_up") == 0);
        Assert.Empty(down.Of("device_plugin_device_allocation"));
        Assert.True(down.HasFamily("device_plugin_device_allocation"));
        Assert.Equal(200, await node.StatusOfAsync("/metrics"));
        time.Advance(PodResourcesPoller.Period);
        Assert.Equal(0, (await node.ScrapeAsync()).Value("device_plugin_pod_resources_up"));

        await node.Kubelet.StartAsync();
        await ScrapeAfterPeriodAsync(node, time, m => m.Value("device_plugin_pod_resources_up") == 1);

        await Eventually.TrueAsync(() => node.Logs.Lines.Count(l => l.Contains("PodResourcesPoller:", StringComparison.Ordinal)) == 3, "three state changes logged");
        var lines = node.Logs.Lines.Where(l => l.Contains("PodResourcesPoller:", StringComparison.Ordinal)).ToArray();
        Assert.Contains("answers", lines[0], StringComparison.Ordinal);
        Assert.Contains("not answering", lines[1], StringComparison.Ordinal);
        Assert.Contains("does not exist", lines[1], StringComparison.Ordinal);
        Assert.Contains("answers", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_device_turning_unhealthy_is_logged_with_the_pod_holding_it()
    {
        var (node, time) = await StartAsync();
        await using var _ = node;
        var trainer = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("trainer", Whole, 1, "ml"));
        var held = trainer.DevicesOf("main", Whole).Single();
        await ScrapeAfterPeriodAsync(node, time, m => m.Of("device_plugin_device_allocation").Any());

        await node.WriteConfigAsync(Config.Replace($"- id: {held}", $"- id: {held}\n        health: Unhealthy", StringComparison.Ordinal));
        var line = $"device {held} is now Unhealthy (cause config";
        await Eventually.TrueAsync(() => node.Logs.Contains(line), "the change is logged");
        Assert.Contains("held by ml/trainer/main", node.Logs.Lines.Single(l => l.Contains(line, StringComparison.Ordinal)), StringComparison.Ordinal);
    }
}
