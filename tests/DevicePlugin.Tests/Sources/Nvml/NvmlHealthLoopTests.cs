using DevicePlugin.Inventory;
using DevicePlugin.Tests.TestSupport;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>The health thread is the background loop <c>nvml-health</c>: a pass that throws does not end it.</summary>
public sealed class NvmlHealthLoopTests
{
    [Fact]
    public async Task A_pass_that_throws_is_logged_shown_in_loop_health_and_the_next_event_is_still_published()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        // The health thread reads the clock on every pass (the rescan schedule): the next reading throws.
        h.Time.ThrowOnNextRead(new InvalidOperationException("injected clock fault"));
        await Eventually.TrueAsync(() => h.Logs.CountContaining("injected clock fault") >= 1, "the failed pass is logged");
        Assert.Equal(1, h.Logs.CountContaining("background loop nvml-health: a pass failed (InvalidOperationException: injected clock fault)"));

        // Counted in the loop metrics; failing (so /readyz names it) only until the next pass, one poll interval later.
        var metrics = await LoopMetricsAsync(h.LoopMetrics);
        Assert.Equal(1, metrics.Of("device_plugin_background_loop_errors_total", ("loop", "nvml-health")).Single().Value);
        await Eventually.TrueAsync(() => !h.Loops.Failing.ContainsKey("nvml-health"), "the next pass succeeds and clears the failure");

        h.Fake.Inject("xid 1 79");
        var after = await h.WaitForAsync(s => Device(s, Uuid(1)).Health == DeviceHealth.Unhealthy);
        Assert.Contains("XID 79", Device(after, Uuid(1)).UnhealthyReason);
        Assert.Equal(1, h.Logs.CountContaining("background loop nvml-health: a pass failed"));
    }

    internal static async Task<PrometheusText> LoopMetricsAsync(Prometheus.CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return PrometheusText.Parse(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
