using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// The one way the daemon runs a background loop: <see cref="Start"/>, <see cref="Wake"/> (coalescing: many wakes
/// before the next pass give one pass), <see cref="StopAsync"/>. Each pass runs after a wake or when the period
/// elapses. A pass that throws is logged (one line, no stack trace unless the level is Debug), recorded in
/// <see cref="LoopHealth"/> (so /readyz and a metric show it), and retried after <c>retryAfter</c>; the loop
/// itself never ends before it is stopped.
/// </summary>
public sealed class BackgroundLoop : IAsyncDisposable
{
    private readonly string _name;
    private readonly Func<CancellationToken, Task> _pass;
    private readonly ILogger _logger;
    private readonly LoopHealth? _health;
    private readonly TimeSpan _period;
    private readonly TimeSpan _retryAfter;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private Task _loop = Task.CompletedTask;

    /// <param name="name">names the loop in logs, /readyz and the metric</param>
    /// <param name="pass">one pass of work</param>
    /// <param name="period">a pass also runs this long after the last one without a wake; null: only on wakes; zero (with
    /// <see cref="StartOnThread"/>): one pass after another</param>
    /// <param name="retryAfter">after a failed pass, the next one runs at the latest this long after (default 1 s)</param>
    public BackgroundLoop(string name, Func<CancellationToken, Task> pass, ILogger logger, LoopHealth? health = null,
        TimeSpan? period = null, TimeSpan? retryAfter = null)
    {
        _name = name;
        _pass = pass;
        _logger = logger;
        _health = health;
        _period = period ?? Timeout.InfiniteTimeSpan;
        _retryAfter = retryAfter ?? TimeSpan.FromSeconds(1);
    }

    public string Name => _name;

    /// <summary>Starts the loop; the first pass runs after the first wake or period.</summary>
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
                await _signal.WaitAsync(wait, token);
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
            catch (OperationCanceledException) when (token.IsCancellationRequested)
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
            catch (OperationCanceledException) when (token.IsCancellationRequested)
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
            _health?.Succeeded(_name);
            return _period;
        }

        // Log and carry on: one bad pass must never end hot reload, resource updates, health or restart detection.
        _health?.Failed(_name, failure);
        HostingLog.PassFailed(_logger, _name, failure.GetType().Name, failure.Message, (long)_retryAfter.TotalMilliseconds);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            HostingLog.PassFailedDetail(_logger, _name, failure);
        }

        return _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero || _period > _retryAfter ? _retryAfter : _period;
    }

    /// <summary>Stops the loop and waits for the pass in progress to end.</summary>
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // RunAsync catches everything; nothing to add here.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _signal.Dispose();
    }
}
