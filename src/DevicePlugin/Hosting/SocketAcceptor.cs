using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// Accepts the connections of one listening socket for a <see cref="DynamicSocketTransport"/> and keeps track of them
/// until they close, so that closing the socket also closes what came through it and nothing else. The accepting is
/// a <see cref="BackgroundLoop"/> (<c>accept &lt;name&gt;</c>) whose passes follow one another, one connection each.
/// </summary>
public sealed class SocketAcceptor : IAsyncDisposable
{
    private static readonly TimeSpan MinPause = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(1);

    private readonly Socket _listening;
    private readonly Func<CancellationToken, ValueTask<Socket>> _accept;
    private readonly string _name;
    private readonly Func<Socket, ConnectionContext> _create;
    private readonly ChannelWriter<ConnectionContext> _accepted;
    private readonly ConcurrentDictionary<ConnectionContext, byte> _open = new();
    private readonly BackgroundLoop _loop;

    internal SocketAcceptor(Socket listening, string name, Func<Socket, ConnectionContext> create,
        ChannelWriter<ConnectionContext> accepted, ILogger logger, LoopHealth? health = null,
        Func<CancellationToken, ValueTask<Socket>>? accept = null)
    {
        _listening = listening;
        _accept = accept ?? listening.AcceptAsync;
        _name = name;
        _create = create;
        _accepted = accepted;
        _loop = new BackgroundLoop("accept " + name, AcceptOneAsync, logger, health, period: TimeSpan.Zero,
            retryAfter: MinPause, maxRetryAfter: MaxPause);
    }

    /// <summary>Connections accepted and not closed yet.</summary>
    public int OpenConnections => _open.Count;

    /// <summary>The name of the accept loop: in logs, on /readyz and as the background-loop metrics' <c>loop</c> label.</summary>
    public string LoopName => _loop.Name;

    internal void Start() => _loop.Start();

    /// <summary>
    /// One pass of the accept loop: one connection accepted and handed on. Running out of file descriptors
    /// (EMFILE/ENFILE) or buffers throws: the loop logs it once, shows it on /readyz and backs off, and the waiting
    /// clients stay in the backlog; ending the loop instead would leave the socket deaf for good.
    /// </summary>
    private async Task AcceptOneAsync(CancellationToken token)
    {
        Socket accepted;
        try
        {
            accepted = await _accept(token);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Interrupted)
        {
            // The client gave up while waiting in the backlog.
            return;
        }

        ConnectionContext connection;
        try
        {
            connection = _create(accepted);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            accepted.Dispose();
            return;
        }

        _open[connection] = 0;
        connection.ConnectionClosed.Register(static state =>
        {
            var (open, closed) = ((ConcurrentDictionary<ConnectionContext, byte>, ConnectionContext))state!;
            open.TryRemove(closed, out _);
        }, (_open, connection));
        if (!_accepted.TryWrite(connection))
        {
            // The transport is gone (shutting down).
            _open.TryRemove(connection, out _);
            connection.Abort();
            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// Stops accepting, closes the listening socket, asks every connection it accepted to close (HTTP/2 GOAWAY), and
    /// aborts those still open after <paramref name="grace"/>.
    /// </summary>
    public async Task CloseAsync(TimeSpan grace)
    {
        // Cancel first, so that the accept the disposed socket ends is taken for the stop it is, not a failure.
        _loop.RequestStop();
        _listening.Dispose();
        await _loop.StopAsync();

        foreach (var connection in _open.Keys)
        {
            if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
            {
                lifetime.RequestClose();
            }
            else
            {
                // Not picked up by the server yet.
                connection.Abort();
            }
        }

        try
        {
            await Task.WhenAll(_open.Keys.Select(c => WhenClosed(c.ConnectionClosed))).WaitAsync(grace);
        }
        catch (TimeoutException)
        {
            // Those still open are aborted below.
        }

        foreach (var connection in _open.Keys)
        {
            connection.Abort(new ConnectionAbortedException($"{_name} closed"));
        }
    }

    private static Task WhenClosed(CancellationToken closed)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        closed.Register(static d => ((TaskCompletionSource)d!).TrySetResult(), done);
        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync(TimeSpan.Zero);
        await _loop.DisposeAsync();
    }
}
