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
    private readonly Lock _lock = new();
    private WebApplication? _app;
    private StreamLifetime? _lifetime;
    private Task _loop = Task.CompletedTask;
    private bool _recreate = true;
    private bool _reregister = true;
    private string? _lastError;

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

    public RegistrationState State { get; private set; } = RegistrationState.Pending;

    public string? LastError => _lastError;

    /// <summary>ListAndWatch streams open now.</summary>
    public int OpenStreams => _lifetime?.OpenStreams ?? 0;

    /// <summary>Identity of the kubelet.sock we last registered with, to notice a kubelet restart.</summary>
    public KubeletSocketIdentity? RegisteredWith { get; private set; }

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

    /// <summary>Called on every kubelet-directory check: re-registers when our socket is gone or the kubelet restarted.</summary>
    public void CheckKubelet(KubeletSocketIdentity? kubelet)
    {
        if (State == RegistrationState.Registered)
        {
            if (!File.Exists(SocketPath))
            {
                KubeletLog.KubeletRestarted(_logger, ResourceName, $"our socket {Endpoint} was deleted");
                State = RegistrationState.Pending;
                RequestReRegistration(recreateSocket: true);
            }
            else if (kubelet is not null && RegisteredWith is not null && kubelet != RegisteredWith)
            {
                KubeletLog.KubeletRestarted(_logger, ResourceName, "kubelet.sock was created anew");
                State = RegistrationState.Pending;
                RequestReRegistration(recreateSocket: true);
            }
        }
        else if (kubelet is not null)
        {
            // The kubelet (re)appeared while we wait to retry: try now rather than at the end of the backoff.
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
                    State = RegistrationState.Failed;
                    _lastError = e is RpcException rpc ? rpc.Status.Detail : e.Message;
                    _context.Metrics.Registration(ResourceName, ok: false);
                    KubeletLog.RegistrationFailed(_logger, ResourceName, (long)delay.TotalMilliseconds, _lastError);
                    lock (_lock)
                    {
                        _reregister = true;
                        _recreate |= _app is null;
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
        DeleteSocketFile();
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
            k.ListenUnixSocket(SocketPath, o => o.Protocols = HttpProtocols.Http2);
            k.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
        });
        builder.Services.AddGrpc(o => o.Interceptors.Add<GrpcMetricsInterceptor>());
        builder.Services.AddSingleton(Feed);
        builder.Services.AddSingleton(lifetime);
        builder.Services.AddSingleton(_context);
        var app = builder.Build();
        app.MapGrpcService<DevicePluginService>();
        try
        {
            await app.StartAsync(token);
        }
        catch (Exception e)
        {
            KubeletLog.ServeFailed(_logger, ResourceName, SocketPath, e.Message);
            await app.DisposeAsync();
            lifetime.Dispose();
            throw;
        }

        // Only the kubelet (root) may talk to us.
        File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _app = app;
        _lifetime = lifetime;
        KubeletLog.Serving(_logger, ResourceName, SocketPath);
    }

    private async Task RegisterAsync(CancellationToken token)
    {
        State = RegistrationState.Pending;
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
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await client.RegisterAsync(request, cancellationToken: timeout.Token);
        RegisteredWith = kubelet;
        State = RegistrationState.Registered;
        _lastError = null;
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
        State = RegistrationState.Pending;
        KubeletLog.Stopped(_logger, ResourceName, SocketPath);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _wake.Dispose();
    }
}
