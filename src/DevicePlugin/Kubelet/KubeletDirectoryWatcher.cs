using DevicePlugin.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Notices kubelet restarts: file-system events in the kubelet directory (kubelet.sock created, a socket deleted)
/// wake the check at once, and a periodic check catches anything the events miss (inotify overflow, a directory that
/// was itself recreated).
/// </summary>
public sealed class KubeletDirectoryWatcher : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Action<KubeletSocketIdentity?> _check;
    private readonly BackgroundLoop _loop;
    private FileSystemWatcher? _watcher;

    public KubeletDirectoryWatcher(string directory, Action<KubeletSocketIdentity?> check, TimeSpan? period = null,
        ILogger? logger = null, LoopHealth? health = null)
    {
        _directory = directory;
        _check = check;
        _loop = new BackgroundLoop("kubelet-directory-watcher", Pass, logger ?? NullLogger.Instance, health, period ?? TimeSpan.FromSeconds(1));
    }

    public void Start()
    {
        TryWatch();
        _loop.Start();
    }

    private Task Pass(CancellationToken token)
    {
        TryWatch();
        _check(KubeletSocketIdentity.Read(Path.Combine(_directory, "kubelet.sock")));
        return Task.CompletedTask;
    }

    private void TryWatch()
    {
        if (_watcher is not null && !Directory.Exists(_directory))
        {
            // The directory went away (and may come back as a new one): watch that one when it appears.
            _watcher.Dispose();
            _watcher = null;
        }

        if (_watcher is not null || !Directory.Exists(_directory))
        {
            return;
        }

        try
        {
            var watcher = new FileSystemWatcher(_directory) { IncludeSubdirectories = false };
            watcher.Created += (_, _) => Wake();
            watcher.Deleted += (_, _) => Wake();
            watcher.Renamed += (_, _) => Wake();
            watcher.Error += (_, _) => Wake();
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            // The periodic check still runs.
        }
    }

    private void Wake() => _loop.Wake();

    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync();
        _watcher?.Dispose();
    }
}
