using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// One extended resource's socket in the kubelet directory and its registration with the kubelet. A single
/// <see cref="BackgroundLoop"/> (<c>resource-server &lt;resource&gt;</c>) owns both: it serves first
/// (<see cref="ResourceSocket"/>), then registers (<see cref="KubeletRegistrar"/>), retries with a capped backoff while
/// the kubelet is away (each failure logged once, shown on /readyz and in the loop metrics), and opens a fresh socket
/// when the kubelet restarts (<see cref="ResourceRegistration"/> tracks the state and detects restarts).
/// </summary>
public sealed class ResourceServer : IAsyncDisposable
{
    private static readonly TimeSpan MinRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(2);

    /// <summary>How long a closed generation's connections get to close by themselves before they are aborted.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    private readonly ResourceServerContext _context;
    private readonly ILogger _logger;
    private readonly ResourceRegistration _registration = new();
    private readonly KubeletRegistrar _registrar;
    private readonly List<Task> _closing = [];
    private ResourceSocket? _socket;
    private readonly BackgroundLoop _loop;
    private int _stopped;

    public ResourceServer(ResourceSnapshot initial, ResourceServerContext context)
    {
        _context = context;
        _logger = context.Loggers.CreateLogger<ResourceServer>();
        Feed = new SnapshotFeed(initial);
        ResourceName = initial.ResourceName;
        Endpoint = EndpointFor(initial.ResourceName);
        SocketPath = Path.Combine(context.KubeletDirectory, Endpoint);
        _registrar = new KubeletRegistrar(context, _registration, _logger);
        // Retries while the kubelet is away: 100 ms, doubling to 2 s; a directory check that sees a kubelet wakes it sooner.
        _loop = new BackgroundLoop("resource-server " + ResourceName, PassAsync, _logger, context.Loops,
            retryAfter: MinRetry, maxRetryAfter: MaxRetry, time: context.Time, failureLevel: LogLevel.Warning);
    }

    public string ResourceName { get; }

    /// <summary>The socket file name inside the kubelet directory, as sent in RegisterRequest.endpoint.</summary>
    public string Endpoint { get; }

    public string SocketPath { get; }

    public SnapshotFeed Feed { get; }

    public RegistrationState State => _registration.State;

    public string? LastError => _registration.LastError;

    /// <summary>ListAndWatch streams open now.</summary>
    public int OpenStreams => Volatile.Read(ref _socket)?.OpenStreams ?? 0;

    /// <summary>Identity of the kubelet.sock we last registered with, to notice a kubelet restart.</summary>
    public KubeletSocketIdentity? RegisteredWith => _registration.RegisteredWith;

    public static string EndpointFor(string resourceName) => "dp-" + resourceName.Replace('/', '_') + ".sock";

    /// <summary>The name of the server's loop: in logs, on /readyz and as the background-loop metrics' <c>loop</c> label.</summary>
    public string LoopName => _loop.Name;

    public Task StartAsync()
    {
        _loop.Start();
        _loop.Wake();
        return Task.CompletedTask;
    }

    /// <summary>Hands the server a new snapshot; open streams send it if the kubelet would see a change.</summary>
    public void Update(ResourceSnapshot snapshot)
    {
        var previous = Feed.Current;
        Feed.Update(snapshot);
        if (previous.PreStartRequired != snapshot.PreStartRequired)
        {
            // The kubelet reads options only at registration: register again so it sees the new ones.
            KubeletLog.OptionsChanged(_logger, ResourceName, snapshot.PreStartRequired);
            RequestReRegistration(recreateSocket: true);
        }
    }

    /// <summary>Asks the loop to register again (and to serve on a fresh socket first when asked).</summary>
    public void RequestReRegistration(bool recreateSocket)
    {
        _registration.Request(recreateSocket);
        _loop.Wake();
    }

    /// <summary>
    /// Called on every kubelet-directory check: re-registers when our socket is gone or the kubelet restarted, and
    /// abandons a Register call that hangs on a kubelet that has since been replaced.
    /// </summary>
    public void CheckKubelet(KubeletSocketIdentity? kubelet)
    {
        var check = _registration.Check(kubelet, SocketPath);
        if (check.Restarted is { } why)
        {
            KubeletLog.KubeletRestarted(_logger, ResourceName, why);
        }

        if (check.Abandon is { } call)
        {
            KubeletLog.RegisterAbandoned(_logger, ResourceName);
            try
            {
                call.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The call ended meanwhile.
            }
        }

        if (check.Wake)
        {
            _loop.Wake();
        }
    }

    /// <summary>
    /// One pass of the server's loop: does what was asked (serve on a fresh socket, register). A failure is recorded
    /// (state Failed, a retry asked for) and thrown, for the loop to log once, show on /readyz and retry with backoff.
    /// </summary>
    private async Task PassAsync(CancellationToken token)
    {
        var (recreate, reregister) = _registration.TakeRequests();
        if (!recreate && !reregister)
        {
            return;
        }

        try
        {
            // A kubelet that started while we waited deleted our socket with every other one: serve anew.
            if (recreate || _socket is null || !File.Exists(SocketPath))
            {
                CloseSocket();
                Serve();
            }

            await _registrar.RegisterAsync(ResourceName, Endpoint, Feed.Current, token);
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            var error = e is RpcException rpc ? rpc.Status.Detail : e.Message;
            _registration.Failed(error, serving: _socket is not null);
            _context.Metrics.Registration(ResourceName, ok: false);
            if (e is RpcException)
            {
                throw new IOException($"Register failed: {error}", e);
            }

            throw;
        }
    }

    private void Serve()
    {
        try
        {
            Volatile.Write(ref _socket, ResourceSocket.Open(_context, SocketPath, Feed));
        }
        catch (Exception e) when (e is not DirectoryNotFoundException)
        {
            // A missing kubelet directory says so itself; anything else is named with the socket it concerns.
            throw new IOException($"failed to start serving on {SocketPath}: {e.Message}", e);
        }

        KubeletLog.Serving(_logger, ResourceName, SocketPath);
    }

    /// <summary>
    /// Ends the current generation's streams and stops accepting on its socket; its connections close in the
    /// background, so a new socket (and registration) need not wait for them.
    /// </summary>
    private void CloseSocket()
    {
        var socket = Interlocked.Exchange(ref _socket, null);
        if (socket is null)
        {
            return;
        }

        var closing = socket.CloseAsync(CloseGrace);
        lock (_closing)
        {
            _closing.RemoveAll(t => t.IsCompleted);
            _closing.Add(closing);
        }
    }

    /// <summary>Ends the streams, stops serving and deletes the socket.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _loop.StopAsync();
        CloseSocket();
        Task[] closing;
        lock (_closing)
        {
            closing = [.. _closing];
            _closing.Clear();
        }

        await Task.WhenAll(closing);
        ResourceSocket.DeleteFile(_context, SocketPath);
        _registration.Stopped();
        KubeletLog.Stopped(_logger, ResourceName, SocketPath);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _loop.DisposeAsync();
    }
}
