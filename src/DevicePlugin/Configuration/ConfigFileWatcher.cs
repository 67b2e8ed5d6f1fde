using System.Security.Cryptography;

namespace DevicePlugin.Configuration;

/// <summary>
/// Notices changes of the configuration file by re-reading it through its path on a short period and comparing a
/// hash. Reading through the path follows symlinks each time, so a Kubernetes ConfigMap mount (the file is a link into
/// a <c>..data</c> directory that is swapped atomically) is seen like an edit in place. Cheap: one small read.
/// </summary>
public sealed class ConfigFileWatcher : IDisposable
{
    private readonly string _path;
    private readonly Func<Task> _changed;
    private readonly TimeSpan _period;
    private readonly CancellationTokenSource _stop = new();
    private byte[]? _lastHash;
    private Task _loop = Task.CompletedTask;

    public ConfigFileWatcher(string path, Func<Task> changed, TimeSpan? period = null)
    {
        _path = path;
        _changed = changed;
        _period = period ?? TimeSpan.FromMilliseconds(250);
        _lastHash = Hash();
    }

    public void Start() => _loop = Task.Run(LoopAsync, CancellationToken.None);

    private byte[]? Hash()
    {
        try
        {
            return SHA256.HashData(File.ReadAllBytes(_path));
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
                var hash = Hash();
                if (hash is null || (_lastHash is not null && hash.AsSpan().SequenceEqual(_lastHash)))
                {
                    continue;
                }

                _lastHash = hash;
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
