using System.Net;
using System.Net.Sockets;
using DevicePlugin.Kubelet;
using DevicePlugin.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// The daemon's one Kestrel server: every resource's gRPC socket and the metrics endpoint. Kestrel binds its
/// endpoints once, so both are endpoints of a <see cref="DynamicSocketTransport"/>: resource sockets (HTTP/2, routed
/// to their resource by <see cref="ResourceBinding"/>) and the metrics listener (HTTP/1.1) are added as sockets while
/// the server runs. Connections accepted before the server has started wait for it.
/// </summary>
public sealed class PluginWebHost : IAsyncDisposable
{
    /// <summary>ASP.NET Core's per-request log category (request starting/finished lines).</summary>
    public const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    private readonly DynamicSocketTransport _transport;
    private readonly EndPoint _resources;
    private readonly EndPoint _monitoring;
    private readonly ILoggerFactory _loggers;
    private WebApplication? _app;
    private SocketAcceptor? _metrics;

    /// <param name="loops">where the accept loops' failures show (/readyz and the background-loop metrics); none when null</param>
    public PluginWebHost(ILoggerFactory loggers, LoopHealth? loops = null)
    {
        _loggers = loggers;
        _transport = new DynamicSocketTransport(loggers, loops);
        _resources = _transport.CreateEndPoint("resource-sockets");
        _monitoring = _transport.CreateEndPoint("metrics");
    }

    /// <summary>How long an accepted connection may send nothing before it is closed (<see cref="FirstByteDeadline"/>).</summary>
    public TimeSpan FirstByteTimeout { get; set; } = FirstByteDeadline.DefaultTimeout;

    /// <summary>Serves a resource's listening Unix socket; its calls go to <paramref name="binding"/>'s service.</summary>
    public SocketAcceptor AddResourceSocket(Socket listening, ResourceBinding binding, string name) =>
        _transport.Add(_resources, listening, binding, name);

    /// <summary>
    /// Binds <paramref name="address"/> for <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> and serves it; throws
    /// the bind's <see cref="SocketException"/> (address in use, not on this host, not permitted).
    /// </summary>
    public IPEndPoint AddMetricsListener(IPEndPoint address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel does on Linux: a restart may bind while old connections linger in TIME_WAIT.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (address.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(address);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var bound = (IPEndPoint)socket.LocalEndPoint!;
        _metrics = _transport.Add(_monitoring, socket, MonitoringConnection.Instance, $"metrics {bound}");
        return bound;
    }

    /// <summary>Builds and starts the server (reading no configuration source: everything it needs is set here).</summary>
    public async Task StartAsync(ResourceServerContext context, MetricsEndpoint metrics, CancellationToken cancellationToken)
    {
        // The empty builder reads no appsettings*.json, ASPNETCORE_*/DOTNET_* variables or command line: nothing from
        // outside the daemon's own flags can add a listener (Kestrel__Endpoints, ASPNETCORE_URLS) or change logging,
        // and nothing watches the working directory (/ in a container, where /sys and /dev are mounted).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        // The daemon's log lines, with ASP.NET's own (a line per request at Information) from Warning up only.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // Off entirely: while this category logs at any level, ASP.NET Core starts an Activity (W3C ids, trace headers
        // parsed) and a logging scope for every request, only to log "Request starting/finished" at Information.
        builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);
        builder.Logging.AddProvider(new ForwardingLoggerProvider(_loggers));
        builder.Services.AddSingleton<IConnectionListenerFactory>(_transport);
        var silent = FirstByteDeadline.Middleware(FirstByteTimeout, context.Time, _loggers.CreateLogger<PluginWebHost>());
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(_resources, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                o.Use(silent);
            });
            k.Listen(_monitoring, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                o.Use(silent);
            });
            KestrelLimits.Apply(k);
        });
        builder.Services.AddGrpc(o =>
        {
            // Outermost first: metrics see the status the refusal was mapped to.
            o.Interceptors.Add<GrpcMetricsInterceptor>();
            o.Interceptors.Add<AllocationErrorInterceptor>();
        });
        builder.Services.AddSingleton(context);
        builder.Services.AddSingleton<GrpcMetricsInterceptor>();
        builder.Services.AddSingleton<AllocationErrorInterceptor>();
        builder.Services.AddSingleton<DevicePluginRouter>();
        builder.Services.AddSingleton<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<DevicePluginRouter>, DevicePluginMethods>();
        var app = builder.Build();
        app.MapGrpcService<DevicePluginRouter>();
        metrics.Map(app);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        _app = app;
    }

    public async ValueTask DisposeAsync()
    {
        if (_metrics is { } metrics)
        {
            _metrics = null;
            await metrics.CloseAsync(TimeSpan.FromSeconds(1));
        }

        if (_app is { } app)
        {
            _app = null;
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

        _transport.Dispose();
    }
}

/// <summary>Writes the server's log lines through the daemon's logger factory (its providers and format).</summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory loggers) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => loggers.CreateLogger(categoryName);

    public void Dispose()
    {
        // The factory is the daemon's; it outlives the server.
    }
}

/// <summary>The feature on connections of the metrics listener: they are no resource's.</summary>
public sealed class MonitoringConnection
{
    public static readonly MonitoringConnection Instance = new();

    private MonitoringConnection()
    {
    }
}
