using System.Diagnostics;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Conformance;

/// <summary>
/// The disruptive checks (<c>--disruptive</c>): after a kubelet restart the plugin registers again, its old stream ends
/// and the new one lists the devices.
/// </summary>
public sealed partial class ConformanceRunner
{
    private async Task CheckRestartAsync(
        EmulatedKubelet kubelet, IReadOnlyList<string> names, List<string> registered, List<CheckResult> results, CancellationToken cancellationToken)
    {
        string[] checks = [Checks.Reregistration, Checks.OldStreamEnded, Checks.ListAfterRestart];
        if (!options.Disruptive || registered.Count == 0)
        {
            var reason = options.Disruptive ? "the plugin never registered" : "needs --disruptive";
            foreach (var name in names)
            {
                foreach (var check in checks)
                {
                    Add(results, new CheckResult(name, check, CheckStatus.Skipped, reason, TimeSpan.Zero));
                }
            }

            return;
        }

        var generations = registered.ToDictionary(n => n, n => kubelet.Plugins[n].Generation, StringComparer.Ordinal);
        var restartedAt = Stopwatch.StartNew();
        var old = await kubelet.RestartKeepingStreamsAsync();
        foreach (var name in names)
        {
            if (!registered.Contains(name))
            {
                foreach (var check in checks)
                {
                    Add(results, new CheckResult(name, check, CheckStatus.Skipped, "the plugin never registered", TimeSpan.Zero));
                }

                continue;
            }

            var clock = Stopwatch.StartNew();
            PluginConnection? again = null;
            try
            {
                again = await kubelet.WaitForRegistrationAsync(name, Remaining(restartedAt), generations[name] + 1);
                Add(results, new CheckResult(name, Checks.Reregistration, CheckStatus.Passed, null, restartedAt.Elapsed));
            }
            catch (TimeoutException)
            {
                Add(results, new CheckResult(name, Checks.Reregistration, CheckStatus.Failed,
                    $"no new registration within {Prompt.TotalSeconds:0} s of the kubelet restart (its socket was wiped and kubelet.sock created anew)", restartedAt.Elapsed));
            }

            clock.Restart();
            var previous = old.FirstOrDefault(c => c.ResourceName == name);
            if (previous is not null && !previous.StreamEnded)
            {
                try
                {
                    await previous.WaitForStreamEndAsync(Remaining(restartedAt) + StreamHold);
                }
                catch (OperationCanceledException)
                {
                }
            }

            Add(results, previous is null || previous.StreamEnded
                ? new CheckResult(name, Checks.OldStreamEnded, CheckStatus.Passed, null, clock.Elapsed)
                : new CheckResult(name, Checks.OldStreamEnded, CheckStatus.Failed,
                    $"the stream opened before the restart is still open {restartedAt.Elapsed.TotalSeconds:0.#} s after it", clock.Elapsed));

            clock.Restart();
            if (again is null)
            {
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Skipped, "no new registration", TimeSpan.Zero));
                continue;
            }

            try
            {
                await again.WaitForListAsync(_ => true, Prompt);
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Passed, null, clock.Elapsed));
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Failed,
                    $"no list on the new stream within {Prompt.TotalSeconds:0} s: {e.Message}", clock.Elapsed));
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TimeSpan Remaining(Stopwatch since)
    {
        var left = Prompt - since.Elapsed;
        return left > TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100);
    }
}
