using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static DevicePlugin.Tests.Sources.Pci.PciReferenceNode;
using static DevicePlugin.Tests.Sources.Pci.PciTestConfig;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>
/// The source with its real poll timer at the default interval. The interface promises a new list within 1 s of a
/// change: one poll interval (500 ms, checked below) plus one poll, which the inventory tests show detects every
/// cause and the benchmarks show takes well under a millisecond for 64 devices. The waits here allow more than
/// 1 s so that a loaded test machine does not fail them. The manual clock only drives the recovery rule.
/// </summary>
public sealed class PciSourceTests : IAsyncLifetime
{
    /// <summary>Generous against scheduling delays on a busy machine; the nominal latency is at most 500 ms + one poll.</summary>
    private static readonly TimeSpan PublishDeadline = TimeSpan.FromSeconds(5);

    private const string Amd = PciDefaults.AmdGpu;

    private readonly PciReferenceNode _node = new();
    private readonly ManualTimeProvider _time = new();
    private readonly RecordingInventorySink _sink = new(PciSchema.Kind);
    private PciSource _source = null!;

    public async Task InitializeAsync()
    {
        _source = new PciSource(Options(_node.Sys), _sink, _time, NullLoggerFactory.Instance);
        await _source.ApplyAsync(PciDefaults.Resources, Config(PciDefaults.Resources, isDefault: true), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _source.DisposeAsync();
        _node.Dispose();
    }

    private Task<ImmutableArray<ResourceSnapshot>> WaitFor(string id, DeviceHealth health) =>
        _sink.WaitForAsync(s => s.HasHealth(Amd, id, health), PublishDeadline);

    [Fact]
    public void DefaultPollIntervalLeavesRoomToPublishWithinOneSecond()
    {
        var defaults = new PciSourceOptions();

        Assert.True(defaults.PollInterval <= TimeSpan.FromMilliseconds(500));
        Assert.Equal("/sys", defaults.SysfsRoot);
        Assert.Equal("/dev", defaults.DevRoot);
    }

    [Fact]
    public void ApplyPublishesTheFirstSnapshotsBeforeReturning()
    {
        Assert.Equal(1, _sink.Count);
        Assert.Equal([GpuA, GpuB, GpuC, GpuRemote], _sink.Latest.Resource(Amd).Devices.Select(d => d.Id));
        Assert.Equal(PciSchema.Kind, _source.Kind);
    }

    [Fact]
    public async Task HotUnplugIsPublishedByThePollTimerAndReplugRecoversAfterTheQuietPeriod()
    {
        _node.GpuANode.Unplug();
        var unhealthy = await WaitFor(GpuA, DeviceHealth.Unhealthy);
        Assert.Contains("removed from the PCI bus", unhealthy.FindDevice(Amd, GpuA)!.UnhealthyReason);
        Assert.Equal(4, unhealthy.Resource(Amd).Devices.Length);

        _node.GpuANode.Replug();
        await _sink.WaitForAsync(s => s.FindDevice(Amd, GpuA)?.UnhealthyReason?.Contains("(recovering)") == true, PublishDeadline);
        _time.Advance(RecoverAfter);
        await WaitFor(GpuA, DeviceHealth.Healthy);
    }

    [Fact]
    public async Task DriverUnbindIsPublishedByThePollTimer()
    {
        _node.GpuBNode.BindDriver(null);
        var snapshots = await WaitFor(GpuB, DeviceHealth.Unhealthy);
        Assert.Contains("driver amdgpu unbound", snapshots.FindDevice(Amd, GpuB)!.UnhealthyReason);

        _node.GpuBNode.BindDriver("amdgpu");
        await _sink.WaitForAsync(s => s.FindDevice(Amd, GpuB)?.UnhealthyReason?.Contains("(recovering)") == true, PublishDeadline);
        _time.Advance(RecoverAfter);
        await WaitFor(GpuB, DeviceHealth.Healthy);
    }

    [Fact]
    public async Task A_poll_that_throws_is_logged_shown_in_loop_health_and_the_next_change_is_still_published()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var loops = new LoopHealth(registry);
        using var logs = new RecordingLoggerProvider();
        using var loggers = new LoggerFactory([logs]);
        var sink = new RecordingInventorySink(PciSchema.Kind);
        var time = new ManualTimeProvider(); // the fixture's source polls too: the fault must be this source's alone
        await using var source = new PciSource(Options(_node.Sys), sink, time, loggers, loops);
        await source.ApplyAsync(PciDefaults.Resources, Config(PciDefaults.Resources, isDefault: true), CancellationToken.None);

        // Every poll reads the clock (is a rescan due?): the next reading throws.
        time.ThrowOnNextRead(new InvalidOperationException("injected clock fault"));
        await Eventually.TrueAsync(() => logs.Contains("background loop pci-poll: a pass failed (InvalidOperationException: injected clock fault)"),
            "the failed poll is logged");
        var metrics = await Nvml.NvmlHealthLoopTests.LoopMetricsAsync(registry);
        Assert.Equal(1, metrics.Of("device_plugin_background_loop_errors_total", ("loop", "pci-poll")).Single().Value);
        await Eventually.TrueAsync(() => !loops.Failing.ContainsKey("pci-poll"), "the next poll succeeds and clears the failure");

        _node.GpuANode.Unplug();
        var unhealthy = await sink.WaitForAsync(s => s.HasHealth(Amd, GpuA, DeviceHealth.Unhealthy), PublishDeadline);
        Assert.Contains("removed from the PCI bus", unhealthy.FindDevice(Amd, GpuA)!.UnhealthyReason);
        Assert.Single(logs.Lines, l => l.Contains("background loop pci-poll: a pass failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FatalAerRiseIsPublishedByThePollTimerAndPassesAfterTheQuietPeriod()
    {
        _node.GpuCNode.AerFatal(1);
        await WaitFor(GpuC, DeviceHealth.Unhealthy);

        _time.Advance(RecoverAfter);
        await WaitFor(GpuC, DeviceHealth.Healthy);
    }

    [Fact]
    public async Task MissingDeviceNodeIsPublishedByThePollTimer()
    {
        _node.Sys.RemoveDeviceNode("dri/renderD132");
        var snapshots = await WaitFor(GpuRemote, DeviceHealth.Unhealthy);
        Assert.Contains("/dev/dri/renderD132", snapshots.FindDevice(Amd, GpuRemote)!.UnhealthyReason);

        _node.Sys.DeviceNode("dri/renderD132");
        await _sink.WaitForAsync(s => s.FindDevice(Amd, GpuRemote)?.UnhealthyReason?.Contains("(recovering)") == true, PublishDeadline);
        _time.Advance(RecoverAfter);
        await WaitFor(GpuRemote, DeviceHealth.Healthy);
    }

    [Fact]
    public async Task NewMatchingDeviceIsPublishedByThePollTimer()
    {
        _node.Sys.RootComplex("0000:80").Bridge("0000:80:04.0", numa: 1)
            .Function("0000:85:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1)
            .CharDevice("drm/renderD133", "dri/renderD133", 226, 133);

        var snapshots = await WaitFor("0000:85:00.0", DeviceHealth.Healthy);
        Assert.Equal(1, snapshots.FindDevice(Amd, "0000:85:00.0")!.NumaNode);
    }

    [Fact]
    public async Task ReapplyWithoutPciResourcesWithdrawsEverything()
    {
        await _source.ApplyAsync([], Config([]), CancellationToken.None);

        Assert.Empty(_sink.Latest);
    }

    [Fact]
    public async Task UnreadableDeviceListIsAStartFailureNamingThePath()
    {
        using var empty = new FakeSysfs();
        Directory.Delete(empty.ListingDirectory);
        await using var source = new PciSource(Options(empty), new RecordingInventorySink(PciSchema.Kind), _time, NullLoggerFactory.Instance);

        var error = await Assert.ThrowsAsync<SourceInitException>(() =>
            source.ApplyAsync(PciDefaults.Resources, Config(PciDefaults.Resources), CancellationToken.None));

        Assert.Contains(empty.ListingDirectory, error.Message);
    }

    [Fact]
    public async Task SysfsThatBecomesReadableAfterAFailedStartIsPickedUp()
    {
        using var late = new FakeSysfs();
        Directory.Delete(late.ListingDirectory);
        var sink = new RecordingInventorySink(PciSchema.Kind);
        await using var source = new PciSource(Options(late), sink, _time, NullLoggerFactory.Instance);
        await Assert.ThrowsAsync<SourceInitException>(() =>
            source.ApplyAsync(PciDefaults.Resources, Config(PciDefaults.Resources), CancellationToken.None));

        // The start failure is the daemon's to report; each failed retry of the poll loop is the source's.
        Assert.Empty(sink.Status);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(SpinWait.SpinUntil(() => sink.Failures >= 1, PublishDeadline), "the failed retry was not reported");
        Assert.Contains(late.ListingDirectory, sink.Status[0]);

        Directory.CreateDirectory(late.ListingDirectory);
        late.DeviceNode("kfd");
        late.RootComplex("0000:00").Bridge("0000:00:01.0", numa: 0)
            .Function(GpuA, 0x1002, 0x740f, 0x038000, "amdgpu", numa: 0)
            .CharDevice("drm/renderD128", "dri/renderD128", 226, 128);

        var snapshots = await sink.WaitForAsync(s => s.HasHealth(Amd, GpuA, DeviceHealth.Healthy), PublishDeadline);
        Assert.Equal(["/dev/dri/renderD128"], snapshots.FindDevice(Amd, GpuA)!.DeviceNodes.ToArray());
        Assert.True(SpinWait.SpinUntil(() => sink.Status[^1] == "running", PublishDeadline), string.Join(" | ", sink.Status));
    }

    [Fact]
    public void A_source_that_reads_its_device_list_reports_itself_running()
    {
        Assert.Equal(["running"], _sink.Status);
    }

    [Fact]
    public void NonPositiveIntervalsAreRefused()
    {
        var options = Options(_node.Sys) with { PollInterval = TimeSpan.Zero };

        var error = Assert.Throws<ArgumentException>(() => new PciSource(options, _sink, _time, NullLoggerFactory.Instance));

        Assert.Contains("poll interval", error.Message);
    }
}
