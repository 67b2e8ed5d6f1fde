using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// A Kestrel transport whose endpoints (<see cref="CreateEndPoint"/>) take their connections from listening sockets
/// that are added and closed while the server runs. Kestrel binds its endpoints once, at start; the kubelet deletes
/// every plugin socket when it restarts and resources come and go with the configuration, so each resource socket is
/// a <see cref="SocketAcceptor"/> of its own feeding one endpoint, and closing one leaves the others' connections
/// alone. Each connection carries the feature its socket was added with, so a request can tell which socket it came
/// through (Kestrel's HTTP features fall back to the connection's).
/// </summary>
public sealed class DynamicSocketTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    private readonly SocketConnectionContextFactory _connections;
    private readonly ILogger _logger;
    private readonly LoopHealth? _health;
    private readonly List<DynamicEndPoint> _endpoints = [];

    /// <param name="health">where the accept loops' failures show (/readyz and the background-loop metrics); none when null</param>
    public DynamicSocketTransport(ILoggerFactory loggers, LoopHealth? health = null)
    {
        _health = health;
        _logger = loggers.CreateLogger<DynamicSocketTransport>();
        _connections = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), _logger);
    }

    /// <summary>A new endpoint to give Kestrel's <c>Listen</c>; only this transport binds it.</summary>
    public EndPoint CreateEndPoint(string name)
    {
        var endpoint = new DynamicEndPoint(this, name);
        lock (_endpoints)
        {
            _endpoints.Add(endpoint);
        }

        return endpoint;
    }

    public bool CanBind(EndPoint endpoint) => endpoint is DynamicEndPoint d && d.Transport == this;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        CanBind(endpoint)
            ? ValueTask.FromResult<IConnectionListener>(new Listener((DynamicEndPoint)endpoint))
            : throw new NotSupportedException($"{endpoint} is not this transport's endpoint");

    /// <summary>
    /// Accepts connections on <paramref name="listening"/> (bound and listening; the acceptor owns it from now on) and
    /// hands them to Kestrel through <paramref name="endpoint"/>, each with <paramref name="feature"/> set.
    /// </summary>
    public SocketAcceptor Add<TFeature>(EndPoint endpoint, Socket listening, TFeature feature, string name)
        where TFeature : class =>
        Add(endpoint, listening, feature, name, accept: null);

    /// <summary>As above; <paramref name="accept"/> (for tests) stands in for the listening socket's accept.</summary>
    internal SocketAcceptor Add<TFeature>(EndPoint endpoint, Socket listening, TFeature feature, string name,
        Func<CancellationToken, ValueTask<Socket>>? accept)
        where TFeature : class
    {
        if (!CanBind(endpoint))
        {
            throw new ArgumentException($"{endpoint} is not this transport's endpoint", nameof(endpoint));
        }

        var acceptor = new SocketAcceptor(listening, name, s =>
        {
            var connection = _connections.Create(s);
            connection.Features.Set(feature);
            return connection;
        }, ((DynamicEndPoint)endpoint).Accepted.Writer, _logger, _health, accept);
        acceptor.Start();
        return acceptor;
    }

    public void Dispose()
    {
        lock (_endpoints)
        {
            foreach (var endpoint in _endpoints)
            {
                endpoint.Accepted.Writer.TryComplete();
                while (endpoint.Accepted.Reader.TryRead(out var waiting))
                {
                    waiting.Abort();
                    _ = waiting.DisposeAsync().AsTask();
                }
            }
        }

        _connections.Dispose();
    }

    private sealed class DynamicEndPoint(DynamicSocketTransport transport, string name) : EndPoint
    {
        public DynamicSocketTransport Transport { get; } = transport;

        /// <summary>Connections accepted and not yet taken by Kestrel.</summary>
        public Channel<ConnectionContext> Accepted { get; } = Channel.CreateUnbounded<ConnectionContext>();

        public override string ToString() => name;
    }

    /// <summary>What Kestrel accepts from: the endpoint's connections, until Kestrel unbinds it.</summary>
    private sealed class Listener(DynamicEndPoint endpoint) : IConnectionListener
    {
        private readonly CancellationTokenSource _unbound = new();

        public EndPoint EndPoint => endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _unbound.Token);
            try
            {
                return await endpoint.Accepted.Reader.ReadAsync(linked.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
                // Null tells Kestrel this listener is done.
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _unbound.Cancel();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            // Not disposed: an accept may still be linking to it; it holds no timer.
            _unbound.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
