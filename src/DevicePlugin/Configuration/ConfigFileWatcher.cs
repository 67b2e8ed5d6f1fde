namespace DevicePlugin.Configuration;

/// <summary>
/// Notices changes of the configuration file by re-reading it through its path on a short period and comparing the
/// bytes with the last read (config files are small; no hash, so no crypto library is loaded). Reading through the path follows symlinks each time, so a Kubernetes ConfigMap mount (the file is a link into
/// a <c>..data</c> directory that is swapped atomically) is seen like an edit in place. Cheap: one small read.
/// </summary>
public sealed class ConfigFileWatcher : IDisposable
{
    private readonly string _path;
    private readonly Func<Task> _changed;
    private readonly TimeSpan _period;
    private readonly CancellationTokenSource _stop = new();
    private byte[]? _last;
    private Task _loop = Task.CompletedTask;

    public ConfigFileWatcher(string path, Func<Task> changed, TimeSpan? period = null)
    {
        _path = path;
        _changed = changed;
        _period = period ?? TimeSpan.FromMilliseconds(250);
        _last = Read();
    }

    public void Start() => _loop = Task.Run(LoopAsync, CancellationToken.None);

    private byte[]? Read()
    {
        try
        {
            return File.ReadAllBytes(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Mid-swap or briefly missing: try again next period.
            return null;
        }
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(_period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var content = Read();
                if (content is null || (_last is not null && content.AsSpan().SequenceEqual(_last)))
                {
                    continue;
                }

                _last = content;
                await _changed();
            }
        }
        catch (OperationCanceledException)
        {
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

        _stop.Dispose();
    }
}
