using DevicePlugin.Configuration;
using DevicePlugin.Sources;
using Microsoft.Extensions.Logging;
using DevicePlugin.Tests.TestSupport;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>Start-up failures, the degraded mode that retries, and clean shutdown.</summary>
public sealed class NvmlInitTests
{
    [Fact]
    public async Task A_missing_library_is_a_source_init_error_naming_the_path()
    {
        await using var h = CreateWithoutLibrary(Gpus(1));

        var e = await Assert.ThrowsAsync<SourceInitException>(() => h.ApplyAsync());

        Assert.Contains(h.Fake.LibraryPath, e.Message);
        Assert.Contains("could not be loaded", e.Message);
        Assert.Equal(0, h.Sink.Count);
    }

    [Fact]
    public async Task A_library_without_the_nvml_functions_is_a_source_init_error_naming_them()
    {
        // A real shared library that is not NVML.
        var notNvml = new[] { "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6" }
            .First(File.Exists);
        await using var h = Create(Gpus(1), configure: o => o with { LibraryPath = notNvml });

        var e = await Assert.ThrowsAsync<SourceInitException>(() => h.ApplyAsync());

        Assert.Contains(notNvml, e.Message);
        Assert.Contains("lacks required functions nvmlInit_v2, nvmlShutdown", e.Message);
    }

    [Fact]
    public async Task A_file_that_is_not_a_shared_library_is_a_source_init_error()
    {
        await using var h = Create(Gpus(1));
        var garbage = Path.Combine(h.Root, "libnvidia-ml.so.1");
        File.WriteAllText(garbage, "not an ELF file");
        await using var broken = Create(Gpus(1), configure: o => o with { LibraryPath = garbage });

        var e = await Assert.ThrowsAsync<SourceInitException>(() => broken.ApplyAsync());

        Assert.Contains(garbage, e.Message);
    }

    [Fact]
    public async Task A_failing_init_is_a_source_init_error_with_nvmls_reason_and_no_shutdown()
    {
        await using var h = Create("init_return 9\n" + Gpus(1));

        var e = await Assert.ThrowsAsync<SourceInitException>(() => h.ApplyAsync());

        Assert.Contains("DRIVER_NOT_LOADED (Driver Not Loaded)", e.Message);
        Assert.Contains("kernel driver is not loaded", e.Message);
        Assert.Equal(1, h.Fake.Calls("nvmlInit_v2"));
        Assert.Equal(0, h.Fake.Calls("nvmlShutdown"));
        Assert.Equal(0, h.Sink.Count);
    }

    [Fact]
    public async Task No_gpu_is_a_source_init_error_and_nvml_is_shut_down_again()
    {
        await using var h = Create("driver_version 550.54.15\n");

        var e = await Assert.ThrowsAsync<SourceInitException>(() => h.ApplyAsync());

        Assert.Contains("found no GPU", e.Message);
        Assert.Contains("550.54.15", e.Message);
        Assert.Equal(1, h.Fake.Calls("nvmlShutdown"));
        Assert.False(h.Source.IsRunning);
    }

    [Fact]
    public async Task Degraded_mode_advertises_nothing_and_picks_up_a_driver_that_starts_working()
    {
        await using var h = Create("init_return 9\n" + Gpus(2), configure: o => o with { FailOnInitError = false });

        await h.ApplyAsync();
        Assert.Empty(h.Sink.Latest);
        Assert.Equal(1, h.Sink.Count);
        Assert.False(h.Source.IsRunning);
        Assert.Equal(1, h.Logs.CountContaining("cannot start and advertises nothing"));

        h.Fake.WriteConfig(Gpus(2));
        var snapshot = await h.WaitForAsync(s => s.Devices.Length == 2);

        Assert.Equal([Uuid(0), Uuid(1)], Ids(snapshot));
        Assert.True(h.Source.IsRunning);
        Assert.True(h.Fake.Calls("nvmlInit_v2") >= 2);
        // The retry logs its success just after the start-up published: wait for the line, then count it.
        await Eventually.TrueAsync(() => h.Logs.CountContaining("NVML is available now") > 0, "the recovery is logged");
        Assert.Equal(1, h.Logs.CountContaining("NVML is available now"));
    }

    [Fact]
    public async Task Every_failed_retry_is_reported_and_warned_about_at_most_once_per_interval_for_one_reason()
    {
        await using var h = Create("init_return 9\n" + Gpus(1), configure: o => o with { FailOnInitError = false });
        await h.ApplyAsync();
        Assert.Equal(1, h.Sink.Failures);

        // Retries every 50 ms on the real clock; the manual clock stands still, so one line covers them all.
        Assert.True(SpinWait.SpinUntil(() => h.Sink.Failures >= 4, WaitLimit), "failed retries are not reported");
        static bool IsRetryWarning((LogLevel Level, string Message) l) =>
            l.Level >= LogLevel.Warning && l.Message.StartsWith("background loop nvml-start: a pass failed (SourceInitException: ", StringComparison.Ordinal);
        Assert.Single(h.Logs.Lines, IsRetryWarning);
        Assert.Contains("DRIVER_NOT_LOADED", h.Logs.Lines.Single(IsRetryWarning).Message);

        var failures = h.Sink.Failures;
        h.Time.Advance(TimeSpan.FromMinutes(10));
        Assert.True(SpinWait.SpinUntil(() => h.Logs.Lines.Count(IsRetryWarning) == 2, WaitLimit), "no warning after the interval");
        var second = h.Logs.Lines.Where(IsRetryWarning).Last().Message;
        Assert.Matches(@"; (\d+) failed passes not logged since the last line", second);
        Assert.True(h.Sink.Failures > failures);

        h.Fake.WriteConfig(Gpus(1));
        await h.WaitForAsync(s => s.Devices.Length == 1);
        Assert.Equal("running", h.Sink.Status[^1]);
        Assert.All(h.Sink.Status.SkipLast(1), s => Assert.StartsWith("failed: ", s, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failed_start_retry_is_a_pass_of_the_nvml_start_loop_shown_in_loop_health_and_cleared_when_nvml_starts()
    {
        await using var h = Create("init_return 9\n" + Gpus(1), configure: o => o with { FailOnInitError = false });
        await h.ApplyAsync();

        // Each retry is a pass of the background loop nvml-start: counted in the loop metrics, failing in LoopHealth
        // (the /readyz detail), logged once with the loop's name and no stack trace.
        await Eventually.TrueAsync(() => h.Sink.Failures >= 3, "failed retries are reported");
        Assert.StartsWith("SourceInitException: ", h.Loops.Failing["nvml-start"], StringComparison.Ordinal);
        Assert.Contains("DRIVER_NOT_LOADED", h.Loops.Failing["nvml-start"], StringComparison.Ordinal);
        var metrics = await NvmlHealthLoopTests.LoopMetricsAsync(h.LoopMetrics);
        Assert.Equal(1, metrics.Value("device_plugin_background_loop_failing", ("loop", "nvml-start")));
        Assert.True(metrics.Value("device_plugin_background_loop_errors_total", ("loop", "nvml-start")) >= 2);
        Assert.Equal(1, h.Logs.CountContaining("background loop nvml-start: a pass failed (SourceInitException: "));
        Assert.DoesNotContain(h.Logs.Lines, l => l.Message.Contains("   at ", StringComparison.Ordinal));

        // The driver works now: the next pass starts NVML, the failure is cleared and the loop ends.
        h.Fake.WriteConfig(Gpus(1));
        await h.WaitForAsync(s => s.Devices.Length == 1);
        await Eventually.TrueAsync(() => h.Logs.CountContaining("background loop nvml-start: a pass succeeded after") == 1, "the recovery is logged");
        Assert.False(h.Loops.Failing.ContainsKey("nvml-start"));
        metrics = await NvmlHealthLoopTests.LoopMetricsAsync(h.LoopMetrics);
        Assert.Equal(0, metrics.Value("device_plugin_background_loop_failing", ("loop", "nvml-start")));
        var inits = h.Fake.Calls("nvmlInit_v2");
        Assert.False(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlInit_v2") > inits, TimeSpan.FromMilliseconds(500)), "the loop went on after NVML started");
    }

    [Fact]
    public async Task Degraded_mode_picks_up_a_library_installed_later_with_the_latest_resources()
    {
        await using var h = CreateWithoutLibrary(Gpus(1), configure: o => o with { FailOnInitError = false });
        await h.ApplyAsync();
        Assert.Empty(h.Sink.Latest);

        await h.ApplyAsync(Resource("example.com/gpu", replicas: 2));
        h.Fake.InstallLibrary();
        var snapshot = await h.WaitForAsync(s => s.Devices.Length == 1);

        Assert.Equal("example.com/gpu", snapshot.ResourceName);
        Assert.Equal(2, snapshot.Replicas);
    }

    [Fact]
    public async Task Removing_the_resources_stops_the_retries()
    {
        await using var h = Create("init_return 9\n" + Gpus(1), configure: o => o with { FailOnInitError = false });
        await h.ApplyAsync();
        Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlInit_v2") >= 2, WaitLimit), "no retry happened");

        await h.ApplyAsync(new PluginConfig());
        var calls = h.Fake.Calls("nvmlInit_v2");
        h.Fake.WriteConfig(Gpus(1));

        // Retries run every 50 ms: ten intervals without one mean they stopped.
        Assert.False(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlInit_v2") > calls, TimeSpan.FromMilliseconds(500)));
        Assert.Empty(h.Sink.Latest);
    }

    [Fact]
    public async Task Dispose_stops_the_health_thread_and_shuts_nvml_down_exactly_once()
    {
        var h = Create(Gpus(2));
        try
        {
            await h.StartAsync();
            Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlEventSetWait_v2") >= 2, WaitLimit), "the health thread is not waiting for events");

            await h.Source.DisposeAsync();
            await h.Source.DisposeAsync();

            Assert.Equal(1, h.Fake.Calls("nvmlShutdown"));
            Assert.Equal(1, h.Fake.Calls("nvmlEventSetFree"));
            var waits = h.Fake.Calls("nvmlEventSetWait_v2");
            Assert.False(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlEventSetWait_v2") > waits, TimeSpan.FromMilliseconds(500)),
                "the health thread still calls NVML after dispose");
            await Assert.ThrowsAsync<ObjectDisposedException>(() => h.ApplyAsync());
        }
        finally
        {
            await h.DisposeAsync();
        }
    }
}
