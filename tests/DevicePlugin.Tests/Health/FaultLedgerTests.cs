using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Health;

public sealed class FaultLedgerTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMinutes(5);

    [Fact]
    public void An_event_makes_the_device_unhealthy_until_the_quiet_period_passes()
    {
        var time = new ManualTimeProvider();
        var ledger = new FaultLedger(time);
        ledger.RecordEvent("gpu0", "XID 79");

        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("gpu0", Quiet, out var reason));
        Assert.Contains("XID 79", reason);
        Assert.Equal(DeviceHealth.Healthy, ledger.Evaluate("gpu1", Quiet, out _));

        time.Advance(Quiet - TimeSpan.FromSeconds(1));
        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("gpu0", Quiet, out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DeviceHealth.Healthy, ledger.Evaluate("gpu0", Quiet, out reason));
        Assert.Null(reason);
    }

    [Fact]
    public void A_new_fault_restarts_the_quiet_period()
    {
        var time = new ManualTimeProvider();
        var ledger = new FaultLedger(time);
        ledger.RecordEvent("d", "first");
        time.Advance(TimeSpan.FromMinutes(4));
        ledger.RecordEvent("d", "second");
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("d", Quiet, out var reason));
        Assert.Contains("second", reason);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(DeviceHealth.Healthy, ledger.Evaluate("d", Quiet, out _));
    }

    [Fact]
    public void A_condition_holds_the_device_unhealthy_and_the_quiet_period_starts_when_it_was_last_seen()
    {
        var time = new ManualTimeProvider();
        var ledger = new FaultLedger(time);
        ledger.ObserveCondition("d", "driver unbound", holds: true);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("d", Quiet, out var reason));
        Assert.Equal("driver unbound", reason);

        ledger.ObserveCondition("d", "driver unbound", holds: true);
        ledger.ObserveCondition("d", "driver unbound", holds: false);
        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("d", Quiet, out _));
        time.Advance(Quiet);
        Assert.Equal(DeviceHealth.Healthy, ledger.Evaluate("d", Quiet, out _));
    }

    [Fact]
    public void Zero_recover_after_means_never()
    {
        var time = new ManualTimeProvider();
        var ledger = new FaultLedger(time);
        ledger.RecordEvent("d", "XID 48");
        time.Advance(TimeSpan.FromDays(30));
        Assert.Equal(DeviceHealth.Unhealthy, ledger.Evaluate("d", TimeSpan.Zero, out _));
    }
}
