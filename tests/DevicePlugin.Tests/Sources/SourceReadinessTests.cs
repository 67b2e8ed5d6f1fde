using System.Net;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Metrics;
using DevicePlugin.Sources;
using DevicePlugin.Tests.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Tests.Sources;

/// <summary>
/// /readyz and the source metrics: a configured source that failed keeps the daemon not ready, naming it; with the
/// built-in defaults only a source that errored does, not one that found no hardware.
/// </summary>
public sealed class SourceReadinessTests
{
    private const string NvmlAndSimulated = """
        resources:
          - name: nvidia.com/gpu
            source: nvml
          - name: example.com/sim
            source: simulated
            devices: [{ id: s0 }]
        """;

    [Fact]
    public void Problems_name_failed_sources_and_skip_no_hardware_only_under_the_defaults()
    {
        using var metrics = new PluginMetrics(() => [], () => []);
        var status = new SourceStatus(new RecordingInventorySink(NvmlSchema.Kind), metrics);
        status.SourceFailed(NvmlSchema.Kind, new SourceInitException("no library", noHardware: true));
        status.SourceFailed(PciSchema.Kind, new SourceInitException("sysfs unreadable"));

        Assert.Equal(["source nvml failed: no library", "source pci failed: sysfs unreadable"], status.Problems().ToArray());
        status.Defaults = true;
        Assert.Equal(["source pci failed: sysfs unreadable"], status.Problems().ToArray());
        status.SourceRunning(PciSchema.Kind);
        Assert.Empty(status.Problems());
        status.Defaults = false;
        status.SourceUnused(NvmlSchema.Kind);
        Assert.Empty(status.Problems());
    }

    [Fact]
    public async Task A_configured_nvml_source_that_failed_makes_readyz_503_naming_it_while_the_rest_is_served()
    {
        using var fake = FakeNvml.Create("init_return 9\n" + NvmlHarness.Gpus(1));
        await using var node = await PluginNode.StartAsync(NvmlAndSimulated, options: o => o with { NvmlLibrary = fake.LibraryPath, FailOnInitError = false });
        var sim = await node.RegistrationAsync("example.com/sim");
        await sim.WaitForListAsync(l => l.Devices.Count == 1, PluginNode.Wait);
        await Eventually.TrueAsync(() => node.Daemon.Resources.AllRegistered, "the simulated resource registers");

        var (status, body) = await ReadyzAsync(node.Daemon);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("source nvml failed: ", body, StringComparison.Ordinal);
        Assert.Contains("DRIVER_NOT_LOADED", body, StringComparison.Ordinal);

        var metrics = await node.ScrapeAsync();
        Assert.Equal(1, metrics.Of("device_plugin_source_init_failures_total", ("source", "nvml")).Single().Value);
        Assert.Equal(0, metrics.Of("device_plugin_source_up", ("source", "nvml")).Single().Value);
        Assert.Equal(1, metrics.Of("device_plugin_source_up", ("source", "simulated")).Single().Value);
    }

    [Fact]
    public async Task Under_the_defaults_no_nvml_library_is_ready_but_a_library_failing_init_is_not()
    {
        using var dir = new TempDirectory();
        var sysfs = dir.Combine("sys");
        Directory.CreateDirectory(Path.Combine(sysfs, "bus/pci/devices"));

        await using (var absent = await StartDefaultsAsync(dir, sysfs, dir.Combine("no-such-dir/libnvidia-ml.so.1")))
        {
            Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(absent)).Status);
            var metrics = PrometheusText.Parse(await GetAsync(absent, "/metrics"));
            Assert.Equal(0, metrics.Of("device_plugin_source_up", ("source", "nvml")).Single().Value);
            Assert.Equal(1, metrics.Of("device_plugin_source_init_failures_total", ("source", "nvml")).Single().Value);
            Assert.Equal(1, metrics.Of("device_plugin_source_up", ("source", "pci")).Single().Value);
        }

        using var fake = FakeNvml.Create("init_return 9\n" + NvmlHarness.Gpus(1));
        await using var failing = await StartDefaultsAsync(dir, sysfs, fake.LibraryPath);
        var (status, body) = await ReadyzAsync(failing);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("source nvml failed: ", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_the_defaults_unreadable_sysfs_is_not_ready_naming_pci()
    {
        using var dir = new TempDirectory();
        await using var daemon = await StartDefaultsAsync(dir, dir.Combine("no-sys"), dir.Combine("no-such-dir/libnvidia-ml.so.1"));

        var (status, body) = await ReadyzAsync(daemon);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("source pci failed: ", body, StringComparison.Ordinal);
        Assert.DoesNotContain("nvml", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_the_defaults_no_nvml_library_is_a_warning_but_a_library_failing_init_or_a_configured_source_is_an_error()
    {
        using var dir = new TempDirectory();
        var sysfs = dir.Combine("sys");
        Directory.CreateDirectory(Path.Combine(sysfs, "bus/pci/devices"));
        var absentPath = dir.Combine("no-such-dir/libnvidia-ml.so.1");

        // The defaults run on every node; most have no NVIDIA driver, which is no fault of the daemon's.
        var absent = new NvmlTestLoggerFactory();
        await using (await StartDefaultsAsync(dir, sysfs, absentPath, absent))
        {
            var line = Assert.Single(absent.Lines, l => l.Message.Contains("no NVIDIA GPU to advertise with the built-in defaults", StringComparison.Ordinal));
            Assert.Equal(LogLevel.Warning, line.Level);
            Assert.Contains(absentPath, line.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(absent.Lines, l => l.Level >= LogLevel.Error);
        }

        // A driver that is there but does not start is an error, defaults or not.
        using var fake = FakeNvml.Create("init_return 9\n" + NvmlHarness.Gpus(1));
        var failing = new NvmlTestLoggerFactory();
        await using (await StartDefaultsAsync(dir, sysfs, fake.LibraryPath, failing))
        {
            Assert.Contains(failing.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("the nvml source cannot start", StringComparison.Ordinal));
        }

        // A file that names the nvml source asks for it: its absence is an error.
        var config = DeviceSources.Schemas.Parse("resources:\n  - name: nvidia.com/gpu\n    source: nvml\n", "c.yaml");
        var configured = new NvmlTestLoggerFactory();
        await using (await StartAsync(dir, sysfs, absentPath, configured, config, failOnInitError: false))
        {
            Assert.Contains(configured.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("the nvml source cannot start", StringComparison.Ordinal));
            Assert.DoesNotContain(configured.Lines, l => l.Message.Contains("built-in defaults (normal", StringComparison.Ordinal));
        }
    }

    private static Task<Daemon> StartDefaultsAsync(TempDirectory dir, string sysfs, string nvmlLibrary, ILoggerFactory? loggers = null) =>
        StartAsync(dir, sysfs, nvmlLibrary, loggers, DeviceSources.DefaultConfig(), failOnInitError: true);

    private static async Task<Daemon> StartAsync(TempDirectory dir, string sysfs, string nvmlLibrary, ILoggerFactory? loggers, PluginConfig config,
        bool failOnInitError)
    {
        var kubeletDir = dir.Combine($"k-{Guid.NewGuid():N}");
        Directory.CreateDirectory(kubeletDir);
        var options = new DaemonOptions
        {
            KubeletDirectory = kubeletDir,
            MetricsAddress = "127.0.0.1:0",
            SysfsRoot = sysfs,
            DevRoot = dir.Combine("dev"),
            NvmlLibrary = nvmlLibrary,
            FailOnInitError = failOnInitError,
        };
        var daemon = new Daemon(options, config, loggers ?? NullLoggerFactory.Instance);
        await daemon.StartAsync();
        return daemon;
    }

    private static async Task<(HttpStatusCode Status, string Body)> ReadyzAsync(Daemon daemon)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(daemon.MetricsAddress!, "/readyz"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<string> GetAsync(Daemon daemon, string path)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(daemon.MetricsAddress!, path));
    }
}
