using System.Net;
using System.Net.Sockets;
using DevicePlugin.Kubelet;
using DevicePlugin.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DevicePlugin.Hosting;

/// <summary>
/// The daemon's one Kestrel server: every resource's gRPC socket and the metrics endpoint, constructed directly
/// (<see cref="StartAsync"/>) and answering through <see cref="PluginHttpApplication"/>. Kestrel binds its endpoints
/// once, so both are endpoints of a <see cref="DynamicSocketTransport"/>: resource sockets (HTTP/2, routed to their
/// resource by <see cref="ResourceBinding"/>) and the metrics listener (HTTP/1.1) are added as sockets while the server
/// runs. Connections accepted before the server has started wait for it.
/// </summary>
public sealed class PluginWebHost : IAsyncDisposable
{
    private readonly DynamicSocketTransport _transport;
    private readonly EndPoint _resources;
    private readonly EndPoint _monitoring;
    private readonly ILoggerFactory _loggers;
    private KestrelServer? _server;
    private LoggerFactory? _serverLoggers;
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
        const int SolSocket = 1;
        const int SoReuseAddr = 2;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel does on Linux: a restart may bind while old connections linger in TIME_WAIT. SO_REUSEADDR
            // itself, not SocketOptionName.ReuseAddress: on Linux .NET maps that to SO_REUSEPORT too, which let a
            // second daemon bind the same address and share its scrapes instead of failing.
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
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

    /// <summary>
    /// Starts the server: Kestrel constructed directly, with no generic host, dependency injection, configuration or
    /// endpoint routing (building those took most of start-up); gRPC calls go to <see cref="DevicePluginMethods"/>'
    /// dispatcher and the metrics listener's requests to <paramref name="metrics"/>.
    /// </summary>
    public async Task StartAsync(ResourceServerContext context, MetricsEndpoint metrics, CancellationToken cancellationToken)
    {
        // Nothing from outside the daemon's own flags can add a listener (Kestrel__Endpoints, ASPNETCORE_URLS) or change
        // logging: no configuration source is read at all.
        var kestrel = new KestrelServerOptions();
        var silent = FirstByteDeadline.Middleware(FirstByteTimeout, context.Time, _loggers.CreateLogger<PluginWebHost>());
        kestrel.Listen(_resources, o =>
        {
            o.Protocols = HttpProtocols.Http2;
            o.Use(silent);
        });
        kestrel.Listen(_monitoring, o =>
        {
            o.Protocols = HttpProtocols.Http1;
            o.Use(silent);
        });
        KestrelLimits.Apply(kestrel);

        // The daemon's log lines, with the server's own from Warning up only.
        var serverLoggers = new LoggerFactory([new ForwardingLoggerProvider(_loggers)],
            new LoggerFilterOptions { Rules = { new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null) } });
        var dispatcher = DevicePluginMethods.Create(
            [
                // Outermost first: metrics see the status the refusal was mapped to.
                new GrpcMetricsInterceptor(context),
                new AllocationErrorInterceptor(_loggers.CreateLogger<AllocationErrorInterceptor>()),
            ],
            _loggers);
        var server = new KestrelServer(Options.Create(kestrel), _transport, serverLoggers);
        try
        {
            await server.StartAsync(new PluginHttpApplication(dispatcher, metrics), cancellationToken);
        }
        catch
        {
            server.Dispose();
            serverLoggers.Dispose();
            throw;
        }

        _server = server;
        _serverLoggers = serverLoggers;
    }

    public async ValueTask DisposeAsync()
    {
        if (_metrics is { } metrics)
        {
            _metrics = null;
            await metrics.CloseAsync(TimeSpan.FromSeconds(1));
        }

        if (_server is { } server)
        {
            _server = null;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await server.StopAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }

            server.Dispose();
            _serverLoggers?.Dispose();
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
