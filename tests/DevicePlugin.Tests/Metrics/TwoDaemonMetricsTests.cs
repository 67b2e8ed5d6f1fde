using DevicePlugin.Tests.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Metrics;

/// <summary>
/// Every daemon has one metrics path of its own: what one daemon's sources report (faults, their own gauges) never
/// shows in another daemon's /metrics, even in the same process.
/// </summary>
public sealed class TwoDaemonMetricsTests
{
    private const string ConfigA = """
        resources:
          - name: a.example.com/gpu
            source: nvml
            migStrategy: single
        """;

    private const string ConfigB = """
        resources:
          - name: b.example.com/gpu
            source: nvml
        """;

    private static Task<PluginNode> StartAsync(string config, FakeNvml fake) =>
        PluginNode.StartAsync(config, options: o => o with { NvmlLibrary = fake.LibraryPath });

    [Fact]
    public async Task A_fault_and_the_gauges_of_one_daemons_source_show_only_in_that_daemons_metrics()
    {
        // A: one GPU in MIG mode (not advertised whole), one whole GPU, and 'single' refusing the mix. B: two plain GPUs.
        using var fakeA = FakeNvml.Create(NvmlMigTests.H200AndWhole);
        using var fakeB = FakeNvml.Create(NvmlHarness.Gpus(2));
        await using var a = await StartAsync(ConfigA, fakeA);
        await using var b = await StartAsync(ConfigB, fakeB);
        await a.RegistrationAsync("a.example.com/gpu");
        var gpusB = await b.RegistrationAsync("b.example.com/gpu");
        await gpusB.WaitForListAsync(l => l.HealthyCount == 2, PluginNode.Wait);

        fakeA.Inject("xid 1 79");

        var metricsA = await Eventually.ValueAsync(a.ScrapeAsync,
            m => m.Of("device_plugin_device_faults_total", ("device", "GPU-whole"), ("code", "79")).Any());
        Assert.Equal(1, metricsA.Value("device_plugin_device_faults_total", ("device", "GPU-whole"), ("kind", "xid"), ("code", "79")));
        Assert.Equal(1, metricsA.Value("device_plugin_nvml_mig_gpus_skipped"));
        Assert.Equal(1, metricsA.Value("device_plugin_nvml_mig_strategy_refused", ("resource", "a.example.com/gpu"), ("reason", "mixed_mig_and_whole_gpus")));

        var metricsB = await b.ScrapeAsync();
        Assert.DoesNotContain("GPU-whole", metricsB.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("a.example.com", metricsB.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(metricsB.Of("device_plugin_device_faults_total", ("kind", "xid")), s => s.Value > 0);
        Assert.Equal(0, metricsB.Value("device_plugin_nvml_mig_gpus_skipped"));
        Assert.Empty(metricsB.Of("device_plugin_nvml_mig_strategy_refused"));
        Assert.NotSame(a.Daemon.Metrics.Registry, b.Daemon.Metrics.Registry);
    }
}
