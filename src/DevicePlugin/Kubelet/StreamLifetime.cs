namespace DevicePlugin.Kubelet;

/// <summary>Ends every ListAndWatch stream of one serving generation of a resource server.</summary>
public sealed class StreamLifetime : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private int _streams;

    public CancellationToken Token => _cts.Token;

    public int OpenStreams => Volatile.Read(ref _streams);

    public void StreamOpened() => Interlocked.Increment(ref _streams);

    public void StreamClosed() => Interlocked.Decrement(ref _streams);

    public void EndAll() => _cts.Cancel();

    public void Dispose() => _cts.Dispose();
}
