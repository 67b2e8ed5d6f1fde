using System.Net;
using System.Net.Sockets;
using DevicePlugin.Hosting;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// A Kestrel server on a Unix socket (HTTP/2 only) answering every request with a <see cref="GrpcDispatcher"/> of the
/// test's methods, and clients for it: gRPC (Grpc.Net.Client) and plain HTTP/2 (HttpClient, prior knowledge).
/// </summary>
public sealed class GrpcTestServer : IAsyncDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KestrelServer _server;
    private readonly LoggerFactory _loggers;

    private GrpcTestServer(GrpcDispatcher dispatcher, LoggerFactory loggers)
    {
        _loggers = loggers;
        SocketPath = _dir.Combine("grpc.sock");
        var options = new KestrelServerOptions();
        options.ListenUnixSocket(SocketPath, o => o.Protocols = HttpProtocols.Http2);
        _server = new KestrelServer(Options.Create(options),
            new SocketTransportFactory(Options.Create(new SocketTransportOptions()), loggers), loggers);
        Dispatcher = dispatcher;
    }

    public string SocketPath { get; }

    public GrpcDispatcher Dispatcher { get; }

    public RecordingLoggerProvider Logs { get; private init; } = new();

    public static async Task<GrpcTestServer> StartAsync(Action<GrpcDispatcher> methods, params Interceptor[] interceptors)
    {
        var logs = new RecordingLoggerProvider();
        var loggers = new LoggerFactory([logs]);
        var dispatcher = new GrpcDispatcher(interceptors, loggers.CreateLogger<GrpcDispatcher>());
        methods(dispatcher);
        var server = new GrpcTestServer(dispatcher, loggers) { Logs = logs };
        await server._server.StartAsync(new Application(dispatcher), CancellationToken.None);
        return server;
    }

    public Grpc.Net.Client.GrpcChannel Channel() => Api.UnixSocketChannel.Create(SocketPath);

    /// <summary>An HTTP/2 client (prior knowledge, as the kubelet speaks) over the server's socket.</summary>
    public HttpClient Http() => Http2Over(SocketPath);

    public static HttpClient Http2Over(string socketPath)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpClient(handler)
        {
            BaseAddress = new Uri("http://localhost"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _server.StopAsync(stop.Token);
        _server.Dispose();
        _loggers.Dispose();
        _dir.Dispose();
    }

    private sealed class Application(GrpcDispatcher dispatcher) : IHttpApplication<HttpContext>
    {
        public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

        public Task ProcessRequestAsync(HttpContext context) => dispatcher.DispatchAsync(context);

        public void DisposeContext(HttpContext context, Exception? exception)
        {
        }
    }
}
