using System.Diagnostics;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using DevicePlugin.Metrics;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// One extended resource's gRPC server on its own Unix socket in the kubelet directory, and its registration with the
/// kubelet. A single background loop owns the socket and registration: it serves first, then registers, retries with
/// a capped backoff while the kubelet is away, and recreates the socket when the kubelet restarts.
/// </summary>
public sealed class ResourceServer : IAsyncDisposable
{
    private static readonly TimeSpan MinRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(2);

    private readonly ResourceServerContext _context;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private static int s_staging;

    private readonly Lock _lock = new();
    private WebApplication? _app;
    private StreamLifetime? _lifetime;
    private Task _loop = Task.CompletedTask;

    // Guarded by _lock: what the loop is asked to do, where registration stands, and the Register call in flight.
    private bool _recreate = true;
    private bool _reregister = true;
    private RegistrationState _state = RegistrationState.Pending;
    private KubeletSocketIdentity? _registeredWith;
    private KubeletSocketIdentity? _registeringWith;
    private CancellationTokenSource? _registerCall;
    private string? _abandonReason;
    private string? _lastError;
    private string? _lastLoggedError;

    public ResourceServer(ResourceSnapshot initial, ResourceServerContext context)
    {
        _context = context;
        _logger = context.Loggers.CreateLogger<ResourceServer>();
        Feed = new SnapshotFeed(initial);
        ResourceName = initial.ResourceName;
        Endpoint = EndpointFor(initial.ResourceName);
        SocketPath = Path.Combine(context.KubeletDirectory, Endpoint);
    }

    public string ResourceName { get; }

    /// <summary>The socket file name inside the kubelet directory, as sent in RegisterRequest.endpoint.</summary>
    public string Endpoint { get; }

    public string SocketPath { get; }

    public SnapshotFeed Feed { get; }

    public RegistrationState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    public string? LastError
    {
        get
        {
            lock (_lock)
            {
                return _lastError;
            }
        }
    }

    /// <summary>ListAndWatch streams open now.</summary>
    public int OpenStreams => _lifetime?.OpenStreams ?? 0;

    /// <summary>Identity of the kubelet.sock we last registered with, to notice a kubelet restart.</summary>
    public KubeletSocketIdentity? RegisteredWith
    {
        get
        {
            lock (_lock)
            {
                return _registeredWith;
            }
        }
    }

    public static string EndpointFor(string resourceName) => "dp-" + resourceName.Replace('/', '_') + ".sock";

    public Task StartAsync()
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
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
        lock (_lock)
        {
            _reregister = true;
            _recreate |= recreateSocket;
        }

        _wake.Release();
    }

    /// <summary>
    /// Called on every kubelet-directory check: re-registers when our socket is gone or the kubelet restarted, and
    /// abandons a Register call that hangs on a kubelet that has since been replaced. The check and the state change
    /// are one step under the lock, and the loop leaves <see cref="RegistrationState.Registered"/> under the same lock
    /// before it deletes its own socket, so our own socket recreation is never taken for a kubelet restart.
    /// </summary>
    public void CheckKubelet(KubeletSocketIdentity? kubelet)
    {
        string? restarted = null;
        CancellationTokenSource? abandon = null;
        var wake = false;
        lock (_lock)
        {
            if (_state == RegistrationState.Registered)
            {
                if (!File.Exists(SocketPath))
                {
                    restarted = $"our socket {Endpoint} was deleted";
                }
                else if (kubelet is not null && _registeredWith is not null && kubelet != _registeredWith)
                {
                    restarted = "kubelet.sock was created anew";
                }

                if (restarted is not null)
                {
                    _state = RegistrationState.Pending;
                    _reregister = true;
                    _recreate = true;
                    wake = true;
                }
            }
            else if (_registerCall is not null)
            {
                if (kubelet is not null && _registeringWith is not null && kubelet != _registeringWith && _abandonReason is null)
                {
                    _abandonReason = "a new kubelet.sock appeared while Register was pending";
                    abandon = _registerCall;
                }
            }
            else if (kubelet is not null)
            {
                // The kubelet (re)appeared while we wait to retry: try now rather than at the end of the backoff.
                wake = true;
            }
        }

        if (restarted is not null)
        {
            KubeletLog.KubeletRestarted(_logger, ResourceName, restarted);
        }

        if (abandon is not null)
        {
            KubeletLog.RegisterAbandoned(_logger, ResourceName);
            try
            {
                abandon.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The call ended meanwhile.
            }
        }

        if (wake)
        {
            _wake.Release();
        }
    }

    private async Task RunAsync()
    {
        var delay = MinRetry;
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            bool recreate, reregister;
            lock (_lock)
            {
                recreate = _recreate;
                reregister = _reregister;
                _recreate = false;
                _reregister = false;
                if (recreate || reregister)
                {
                    // Leave Registered before touching the socket: a directory check that sees it missing now is
                    // looking at our own recreation, not at a kubelet restart.
                    _state = RegistrationState.Pending;
                }
            }

            if (recreate || reregister)
            {
                try
                {
                    // A kubelet that started while we waited deleted our socket with every other one: serve anew.
                    if (recreate || _app is null || !File.Exists(SocketPath))
                    {
                        await StopServingAsync();
                        await ServeAsync(token);
                    }

                    await RegisterAsync(token);
                    delay = MinRetry;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    var error = e is RpcException rpc ? rpc.Status.Detail : e.Message;
                    bool repeated;
                    lock (_lock)
                    {
                        _state = RegistrationState.Failed;
                        _lastError = error;
                        repeated = error == _lastLoggedError;
                        _lastLoggedError = error;
                        _reregister = true;
                        _recreate |= _app is null;
                    }

                    _context.Metrics.Registration(ResourceName, ok: false);
                    if (repeated)
                    {
                        // The same cause again: one line when it starts, not one per retry.
                        KubeletLog.RegistrationStillFailing(_logger, ResourceName, (long)delay.TotalMilliseconds, error);
                    }
                    else
                    {
                        KubeletLog.RegistrationFailed(_logger, ResourceName, (long)delay.TotalMilliseconds, error);
                    }

                    // Wait for the backoff, or earlier when the kubelet directory changes.
                    try
                    {
                        await _wake.WaitAsync(delay, token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetry.Ticks));
                    continue;
                }
            }

            try
            {
                await _wake.WaitAsync(token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ServeAsync(CancellationToken token)
    {
        var directory = _context.KubeletDirectory;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException(
                $"the kubelet directory {directory} does not exist (is the kubelet running, and is the directory mounted into the container?)");
        }

        if (_context.DirectoryLock is { } instance && !instance.Ensure())
        {
            throw new DirectoryNotFoundException($"the kubelet directory {directory} does not exist");
        }

        DeleteSocketFile();

        // The socket is bound inside a private directory (0700: nobody else can reach it there), made 0600, and then
        // renamed into the kubelet directory, so it never exists there with any other mode, whatever the umask.
        var staging = Path.Combine(directory, $".dp-staging-{Environment.ProcessId}-{Interlocked.Increment(ref s_staging)}");
        var staged = Path.Combine(staging, "s");
        DeleteStaging(staging);
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var lifetime = new StreamLifetime();
        // The empty builder reads no configuration files, environment or command line: start-up is on the
        // registration path, and everything this server needs is set here.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(_context.Loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenUnixSocket(staged, o => o.Protocols = HttpProtocols.Http2);
            k.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
        });
        builder.Services.AddGrpc(o =>
        {
            // Outermost first: metrics see the status the refusal was mapped to.
            o.Interceptors.Add<GrpcMetricsInterceptor>();
            o.Interceptors.Add<AllocationErrorInterceptor>();
        });
        builder.Services.AddSingleton(Feed);
        builder.Services.AddSingleton(lifetime);
        builder.Services.AddSingleton(_context);
        var app = builder.Build();
        app.MapGrpcService<DevicePluginService>();
        try
        {
            await app.StartAsync(token);
            // Only the kubelet (root) may talk to us.
            File.SetUnixFileMode(staged, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(staged, SocketPath, overwrite: true);
        }
        catch (Exception e)
        {
            KubeletLog.ServeFailed(_logger, ResourceName, SocketPath, e.Message);
            await app.DisposeAsync();
            lifetime.Dispose();
            DeleteStaging(staging);
            throw;
        }

        DeleteStaging(staging);
        _app = app;
        _lifetime = lifetime;
        KubeletLog.Serving(_logger, ResourceName, SocketPath);
    }

    private static void DeleteStaging(string staging)
    {
        try
        {
            Directory.Delete(staging, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not there (the usual case), or already going.
        }
    }

    private async Task RegisterAsync(CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        var kubelet = KubeletSocketIdentity.Read(_context.KubeletSocket)
            ?? throw new IOException($"the kubelet socket {_context.KubeletSocket} does not exist (kubelet not running?)");
        using var channel = UnixSocketChannel.Create(_context.KubeletSocket, TimeSpan.FromSeconds(5));
        var client = new Registration.RegistrationClient(channel);
        var snapshot = Feed.Current;
        var request = new RegisterRequest
        {
            Version = "v1beta1",
            Endpoint = Endpoint,
            ResourceName = ResourceName,
            Options = DevicePluginService.OptionsFor(snapshot),
        };

        // The call ends at the 30 s timeout, at shutdown, or as soon as a directory check sees a new kubelet.sock:
        // a kubelet that hangs inside Register and is then replaced must not hold up the next registration.
        var call = CancellationTokenSource.CreateLinkedTokenSource(token);
        call.CancelAfter(TimeSpan.FromSeconds(30));
        lock (_lock)
        {
            _registeringWith = kubelet;
            _registerCall = call;
            _abandonReason = null;
        }

        try
        {
            await client.RegisterAsync(request, cancellationToken: call.Token);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Cancelled or StatusCode.DeadlineExceeded && !token.IsCancellationRequested)
        {
            string? abandoned;
            lock (_lock)
            {
                abandoned = _abandonReason;
            }

            throw new IOException(abandoned is null
                ? "the kubelet did not answer Register within 30 s"
                : $"Register abandoned: {abandoned}", e);
        }
        finally
        {
            lock (_lock)
            {
                _registerCall = null;
                _registeringWith = null;
            }

            call.Dispose();
        }

        lock (_lock)
        {
            _registeredWith = kubelet;
            _state = RegistrationState.Registered;
            _lastError = null;
            _lastLoggedError = null;
        }

        _context.Metrics.Registration(ResourceName, ok: true);
        KubeletLog.Registered(_logger, ResourceName, snapshot.Advertised.Length, Endpoint,
            (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private async Task StopServingAsync()
    {
        var app = _app;
        var lifetime = _lifetime;
        _app = null;
        _lifetime = null;
        if (lifetime is not null)
        {
            // End our streams first so the graceful stop does not wait for them.
            lifetime.EndAll();
        }

        if (app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await app.StopAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await app.DisposeAsync();
        }

        lifetime?.Dispose();
    }

    private void DeleteSocketFile()
    {
        if (_context.DirectoryLock is { IsHeld: false })
        {
            // Another daemon owns the directory now: a socket of this name there is its socket, not ours.
            return;
        }

        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Ends the streams, stops serving and deletes the socket.</summary>
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
            // The loop only ends by cancellation; anything else was already logged.
        }

        await StopServingAsync();
        DeleteSocketFile();
        lock (_lock)
        {
            _state = RegistrationState.Pending;
        }

        KubeletLog.Stopped(_logger, ResourceName, SocketPath);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _wake.Dispose();
    }
}
