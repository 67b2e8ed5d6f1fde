using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// The one way the daemon runs a background loop: <see cref="Start"/> (or <see cref="StartOnThread"/>),
/// <see cref="Wake"/> (coalescing: many wakes before the next pass give one pass), <see cref="StopAsync"/>. Each pass
/// runs after a wake or when the period elapses. A pass that throws is recorded in <see cref="LoopHealth"/> (so
/// /readyz and a metric show it) and logged, one line naming the loop and the error (no stack trace unless the level
/// is Debug); the same error again is logged at most once per <c>remindEvery</c>, with the count of those not
/// logged, and the first pass that succeeds after failures says so. After a failed pass the next one runs at the
/// latest <c>retryAfter</c> later, doubling with each further failure up to <c>maxRetryAfter</c> (a wake runs it
/// sooner); the loop itself never ends before it is stopped. A pass that ends because the loop is being stopped is
/// not a failure.
/// </summary>
public sealed class BackgroundLoop : IAsyncDisposable
{
    private readonly LogLevel _failureLevel;
    private readonly string _name;
    private readonly Func<CancellationToken, Task> _pass;
    private readonly ILogger _logger;
    private readonly LoopHealth? _health;
    private readonly TimeSpan _period;
    private readonly TimeSpan _retryAfter;
    private readonly TimeSpan _maxRetryAfter;
    private readonly TimeProvider _time;
    private readonly WarningThrottle _failureLines;
    private readonly bool _affectsReadiness;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private Task _loop = Task.CompletedTask;

    /// <summary>Failed passes since the last one that succeeded (touched by the loop only).</summary>
    private int _failures;

    /// <summary>Whether the loop has reported a pass to <see cref="LoopHealth"/> yet (touched by the loop only).</summary>
    private bool _reported;

    /// <param name="name">names the loop in logs, /readyz and the metric</param>
    /// <param name="pass">one pass of work</param>
    /// <param name="period">a pass also runs this long after the last one without a wake; null: only on wakes; zero: one
    /// pass after another (the pass itself waits, e.g. for a connection or a native event)</param>
    /// <param name="retryAfter">after a failed pass, the next one runs at the latest this long after (default 1 s)</param>
    /// <param name="maxRetryAfter">each further failure in a row doubles that wait up to this (default: no doubling)</param>
    /// <param name="time">the clock that spaces repeated failure lines (default: the system clock)</param>
    /// <param name="remindEvery">the same failure again is logged at most this often (default 10 min)</param>
    /// <param name="affectsReadiness">false when readiness reads this loop's failures from elsewhere (they still show in
    /// <see cref="LoopHealth.Failing"/>, the metrics and the /readyz detail)</param>
    /// <param name="failureLevel">the level of a failed pass's line: Error by default; Warning for a loop whose passes fail
    /// while something outside is away as a matter of course (the kubelet restarting, no NVIDIA driver on the node)</param>
    public BackgroundLoop(string name, Func<CancellationToken, Task> pass, ILogger logger, LoopHealth? health = null,
        TimeSpan? period = null, TimeSpan? retryAfter = null, TimeSpan? maxRetryAfter = null, TimeProvider? time = null,
        TimeSpan? remindEvery = null, bool affectsReadiness = true, LogLevel failureLevel = LogLevel.Error)
    {
        _failureLevel = failureLevel;
        _affectsReadiness = affectsReadiness;
        _name = name;
        _pass = pass;
        _logger = logger;
        _health = health;
        _period = period ?? Timeout.InfiniteTimeSpan;
        _retryAfter = retryAfter ?? TimeSpan.FromSeconds(1);
        _maxRetryAfter = maxRetryAfter is { } max && max > _retryAfter ? max : _retryAfter;
        _time = time ?? TimeProvider.System;
        _failureLines = new WarningThrottle(remindEvery ?? TimeSpan.FromMinutes(10));
    }

    public string Name => _name;

    /// <summary>Starts the loop; the first pass runs after the first wake or period (at once with a zero period).</summary>
    public void Start() => _loop = Task.Run(RunAsync, CancellationToken.None);

    /// <summary>Asks for a pass as soon as the current one (if any) is done.</summary>
    public void Wake()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // A pass is already due.
        }
        catch (ObjectDisposedException)
        {
            // Stopped.
        }
    }

    /// <summary>
    /// Starts the loop on a thread of its own, for a pass that blocks its caller (a native wait such as
    /// <c>nvmlEventSetWait</c>); each pass runs synchronously there. With a zero period the passes follow one another
    /// at once (the pass itself waits); a failed pass is still followed by <c>retryAfter</c>.
    /// </summary>
    public void StartOnThread()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                RunBlocking();
            }
            finally
            {
                ended.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = _name,
        };
        _loop = ended.Task;
        thread.Start();
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var wait = _period;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (wait != TimeSpan.Zero)
                {
                    await _signal.WaitAsync(wait, token);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            Exception? failure = null;
            try
            {
                await _pass(token);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // Stopping: whatever the pass was doing was cut short on purpose.
                break;
            }
            catch (Exception e)
            {
                failure = e;
            }

            wait = Completed(failure);
        }
    }

    private void RunBlocking()
    {
        var token = _stop.Token;
        var wait = _period;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (wait != TimeSpan.Zero)
                {
                    _signal.Wait(wait, token);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            Exception? failure = null;
            try
            {
                _pass(token).GetAwaiter().GetResult();
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                failure = e;
            }

            wait = Completed(failure);
        }
    }

    /// <summary>Records how a pass ended and returns how long to wait before the next one.</summary>
    private TimeSpan Completed(Exception? failure)
    {
        if (failure is null)
        {
            if (_failures > 0 || !_reported)
            {
                _health?.Succeeded(_name);
                if (_failures > 0)
                {
                    HostingLog.PassSucceededAgain(_logger, _name, _failures);
                }

                _failures = 0;
                _reported = true;
                _failureLines.Reset();
            }

            return _period;
        }

        // Log and carry on: one bad pass must never end hot reload, resource updates, health, registration or accepting.
        _failures++;
        _reported = true;
        var wait = RetryWait(_failures);
        _health?.Failed(_name, failure, _affectsReadiness);
        var reason = $"{failure.GetType().Name}: {failure.Message}";
        if (_failureLines.ShouldLog(reason, Now(), out var suppressed) && _logger.IsEnabled(_failureLevel))
        {
            var type = failure.GetType().Name;
            if (suppressed == 0)
            {
                HostingLog.PassFailed(_logger, _failureLevel, _name, type, failure.Message, (long)wait.TotalMilliseconds);
            }
            else
            {
                HostingLog.PassStillFailing(_logger, _failureLevel, _name, type, failure.Message, suppressed, (long)wait.TotalMilliseconds);
            }
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            HostingLog.PassFailedDetail(_logger, _name, failure);
        }

        return wait;
    }

    /// <summary>How long to wait after the <paramref name="failures"/>-th failed pass in a row.</summary>
    private TimeSpan RetryWait(int failures)
    {
        var wait = _retryAfter;
        for (var i = 1; i < failures && wait < _maxRetryAfter; i++)
        {
            wait += wait;
        }

        if (wait > _maxRetryAfter)
        {
            wait = _maxRetryAfter;
        }

        // A periodic loop never waits longer than its period.
        return _period != Timeout.InfiniteTimeSpan && _period != TimeSpan.Zero && _period < wait ? _period : wait;
    }

    private DateTimeOffset Now()
    {
        try
        {
            return _time.GetUtcNow();
        }
        catch (Exception)
        {
            // A clock that fails must not end the loop; the line is then logged (as if the interval had passed).
            return DateTimeOffset.MaxValue;
        }
    }

    /// <summary>
    /// Asks the loop to end without waiting for it (callable from a pass: the loop ends when the pass returns);
    /// <see cref="StopAsync"/> waits.
    /// </summary>
    public void RequestStop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed.
        }
    }

    /// <summary>Stops the loop, waits for the pass in progress to end, and clears the loop's entry in <see cref="LoopHealth"/>.</summary>
    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // RunAsync catches everything; nothing to add here.
        }

        // A stopped loop is not failing: a removed resource's loop must not keep the daemon unready.
        _health?.Stopped(_name);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _signal.Dispose();
    }
}
