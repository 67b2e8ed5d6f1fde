using DevicePlugin.Hosting;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Hosting;

public sealed class BackgroundLoopTests
{
    [Fact]
    public async Task A_pass_that_throws_is_logged_and_recorded_and_the_loop_goes_on()
    {
        var logs = new RecordingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var health = new LoopHealth(Prometheus.Metrics.NewCustomRegistry());
        var passes = 0;
        var failing = 1;
        await using var loop = new BackgroundLoop("test-loop", _ =>
        {
            var n = Interlocked.Increment(ref passes);
            return Volatile.Read(ref failing) == 1 ? throw new InvalidOperationException($"pass {n} broke") : Task.CompletedTask;
        }, loggers.CreateLogger("test"), health, retryAfter: TimeSpan.FromMilliseconds(20));
        loop.Start();
        loop.Wake();

        await Eventually.TrueAsync(() => Volatile.Read(ref passes) >= 1 && health.Failing.ContainsKey("test-loop"), "the first pass failed");
        Assert.StartsWith("InvalidOperationException: pass ", health.Failing["test-loop"], StringComparison.Ordinal);
        // Retried without a wake, and cleared once a pass succeeds.
        await Eventually.TrueAsync(() => Volatile.Read(ref passes) >= 2, "the failed pass was retried without a wake");
        Volatile.Write(ref failing, 0);
        await Eventually.TrueAsync(() => health.Failing.Count == 0, "a later pass succeeded");
        Assert.True(logs.Contains("background loop test-loop: a pass failed (InvalidOperationException: pass 1 broke)"));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("   at ", StringComparison.Ordinal));

        // Still running: a wake gives another pass.
        var before = Volatile.Read(ref passes);
        loop.Wake();
        await Eventually.TrueAsync(() => Volatile.Read(ref passes) > before, "a pass after a wake");
    }

    [Fact]
    public async Task Wakes_coalesce_and_stop_waits_for_the_pass_in_progress()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var passes = 0;
        var loop = new BackgroundLoop("coalesce", async token =>
        {
            Interlocked.Increment(ref passes);
            entered.TrySetResult();
            await release.Task.WaitAsync(token);
        }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        loop.Start();
        loop.Wake();
        await entered.Task.WaitAsync(PluginNode.Wait);
        for (var i = 0; i < 10; i++)
        {
            loop.Wake();
        }

        release.SetResult();
        await Eventually.TrueAsync(() => Volatile.Read(ref passes) == 2, "one more pass for ten wakes");
        await loop.DisposeAsync();
        Assert.Equal(2, passes);
    }

    [Fact]
    public async Task The_same_failure_is_logged_once_per_reminder_interval_with_backoff_and_stop_clears_it()
    {
        var logs = new RecordingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var health = new LoopHealth();
        var time = new ManualTimeProvider();
        var passes = 0;
        await using var loop = new BackgroundLoop("same-failure", _ =>
        {
            Interlocked.Increment(ref passes);
            return Task.FromException(new IOException("still broken"));
        }, loggers.CreateLogger("test"), health, retryAfter: TimeSpan.FromMilliseconds(1), maxRetryAfter: TimeSpan.FromMilliseconds(8),
            time: time, remindEvery: TimeSpan.FromMinutes(10));
        loop.Start();
        loop.Wake();

        bool IsFailureLine(string l) => l.Contains("background loop same-failure: a pass failed (IOException: still broken)", StringComparison.Ordinal);
        await Eventually.TrueAsync(() => Volatile.Read(ref passes) >= 5, "failed passes are retried");
        Assert.Single(logs.Lines, IsFailureLine);
        // The backoff doubles from 1 ms and stops at 8 ms.
        Assert.Contains(logs.Lines, l => IsFailureLine(l) && l.Contains("next pass within 1 ms", StringComparison.Ordinal));

        time.Advance(TimeSpan.FromMinutes(10));
        await Eventually.TrueAsync(() => logs.Lines.Count(IsFailureLine) == 2, "the failure is logged again after the reminder interval");
        Assert.Matches(@"; \d+ failed passes not logged since the last line; the loop goes on, next pass within 8 ms", logs.Lines.Last(IsFailureLine));

        Assert.True(health.Failing.ContainsKey("same-failure"));
        await loop.StopAsync();
        Assert.Empty(health.Failing);
    }

    [Fact]
    public async Task A_loop_whose_failures_readiness_reads_elsewhere_shows_as_failing_without_counting_for_readiness()
    {
        var health = new LoopHealth();
        await using var loop = new BackgroundLoop("not-for-readiness", _ => Task.FromException(new IOException("no driver")),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, health, retryAfter: TimeSpan.FromMilliseconds(20), affectsReadiness: false);
        await using var other = new BackgroundLoop("for-readiness", _ => Task.FromException(new IOException("broken")),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, health, retryAfter: TimeSpan.FromMilliseconds(20));
        loop.Start();
        loop.Wake();

        await Eventually.TrueAsync(() => health.Failing.ContainsKey("not-for-readiness"), "the pass failed");
        Assert.Equal(0, health.FailingForReadiness);

        other.Start();
        other.Wake();
        await Eventually.TrueAsync(() => health.FailingForReadiness == 1, "a loop that counts for readiness failed");
        await other.StopAsync();
        Assert.Equal(0, health.FailingForReadiness);
    }
}
