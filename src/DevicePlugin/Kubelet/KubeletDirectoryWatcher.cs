namespace DevicePlugin.Kubelet;

/// <summary>
/// Notices kubelet restarts: file-system events in the kubelet directory (kubelet.sock created, a socket deleted)
/// wake the check at once, and a periodic check catches anything the events miss (inotify overflow, a directory that
/// was itself recreated).
/// </summary>
public sealed class KubeletDirectoryWatcher : IDisposable
{
    private readonly string _directory;
    private readonly Action<KubeletSocketIdentity?> _check;
    private readonly TimeSpan _period;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private FileSystemWatcher? _watcher;
    private Task _loop = Task.CompletedTask;

    public KubeletDirectoryWatcher(string directory, Action<KubeletSocketIdentity?> check, TimeSpan? period = null)
    {
        _directory = directory;
        _check = check;
        _period = period ?? TimeSpan.FromSeconds(1);
    }

    public void Start()
    {
        TryWatch();
        _loop = Task.Run(LoopAsync, CancellationToken.None);
    }

    private void TryWatch()
    {
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

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    private async Task LoopAsync()
    {
        var socket = Path.Combine(_directory, "kubelet.sock");
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_period, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            TryWatch();
            _check(KubeletSocketIdentity.Read(socket));
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        _watcher?.Dispose();
        _stop.Dispose();
    }
}
