using DevicePlugin.Hosting;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Configuration;

/// <summary>What one read of the configuration file saw: its bytes, or why it could not be read.</summary>
public sealed record ConfigFileRead(byte[]? Content, string? Error)
{
    public bool Same(ConfigFileRead other) =>
        Error == other.Error && (Content is null ? other.Content is null : other.Content is not null && Content.AsSpan().SequenceEqual(other.Content));

    public static ConfigFileRead Of(string path)
    {
        try
        {
            return new ConfigFileRead(ConfigFileReader.ReadNow(path), null);
        }
        catch (ConfigException e)
        {
            return new ConfigFileRead(null, e.Message);
        }
    }
}

/// <summary>
/// Notices changes of the configuration file by re-reading it through its path on a short period and comparing the
/// bytes (config files are small, at most 1 MiB; no hash, so no crypto library is loaded). Reading through the path
/// follows symlinks each time, so a Kubernetes ConfigMap mount (a link into a <c>..data</c> directory that is swapped
/// atomically) is seen like an edit in place.
/// A change is handed on only when two reads at least <see cref="Settle"/> apart agree: an editor that truncates
/// and then writes, or a copy cut mid-write, is never applied half-written. Reads run off the loop (on the thread
/// pool, one at a time): a FIFO or a hung mount delays only the read, never the loop or the daemon.
/// </summary>
public sealed class ConfigFileWatcher : IAsyncDisposable
{
    /// <summary>Two reads this far apart must agree before a change is applied.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the daemon's watcher reads the file.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromMilliseconds(125);

    /// <summary>
    /// The longest this watcher itself holds a change (the rest of the time to the kubelet, such as a read slower than
    /// a period, is the machine's). A pass starts a read and collects it at the next pass, so reads start every two
    /// periods: up to two periods until a read starts after the write, whole read intervals until a read that agrees
    /// starts <see cref="Settle"/> later, and one period until that read is collected and the change handed on.
    /// </summary>
    public TimeSpan LongestHold => (2 * _period * (1 + Math.Ceiling(Settle / (2 * _period)))) + _period;

    private readonly string _path;
    private readonly TimeSpan _period;
    private readonly Func<ConfigFileRead, Task> _changed;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly BackgroundLoop _loop;
    private ConfigFileRead _handled;
    private (ConfigFileRead Read, long At)? _candidate;
    private Task<ConfigFileRead>? _pending;
    private long _pendingSince;
    private bool _reportedBlocked;

    /// <param name="changed">called with each settled change: new bytes, or the reason the file cannot be read</param>
    public ConfigFileWatcher(string path, Func<ConfigFileRead, Task> changed, ILogger logger, LoopHealth? health = null,
        TimeSpan? period = null, TimeProvider? time = null)
    {
        _path = path;
        _period = period ?? DefaultPeriod;
        _changed = changed;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        // What the daemon started from (read at start-up moments ago); bounded like every other read.
        try
        {
            _handled = new ConfigFileRead(ConfigFileReader.Read(path, TimeSpan.FromSeconds(1)), null);
        }
        catch (ConfigException e)
        {
            _handled = new ConfigFileRead(null, e.Message);
        }

        _loop = new BackgroundLoop("config-watcher", PassAsync, logger, health, _period);
    }

    public void Start() => _loop.Start();

    private async Task PassAsync(CancellationToken token)
    {
        if (_pending is null)
        {
            _pendingSince = _time.GetTimestamp();
            _pending = Task.Run(() => ConfigFileRead.Of(_path), CancellationToken.None);
        }

        if (!_pending.IsCompleted)
        {
            var blocked = _time.GetElapsedTime(_pendingSince);
            if (blocked > ConfigFileReader.DefaultTimeout && !_reportedBlocked)
            {
                _reportedBlocked = true;
                ConfigurationLog.ReadBlocked(_logger, _path, (long)blocked.TotalSeconds);
            }

            return;
        }

        var read = await _pending;
        var at = _pendingSince;
        _pending = null;
        _reportedBlocked = false;
        if (read.Same(_handled))
        {
            _candidate = null;
            return;
        }

        if (_candidate is { } c && c.Read.Same(read))
        {
            if (_time.GetElapsedTime(c.At, at) >= Settle)
            {
                _candidate = null;
                _handled = read;
                await _changed(read);
            }

            return;
        }

        // New content (or a new reason it cannot be read): wait for a later read to confirm it.
        _candidate = (read, at);
    }

    public async ValueTask DisposeAsync() => await _loop.DisposeAsync();
}
