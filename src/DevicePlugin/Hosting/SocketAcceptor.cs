using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// Accepts the connections of one listening socket for a <see cref="DynamicSocketTransport"/> and keeps track of them
/// until they close, so that closing the socket also closes what came through it and nothing else.
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
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<ConnectionContext, byte> _open = new();
    private Task _loop = Task.CompletedTask;

    internal SocketAcceptor(Socket listening, string name, Func<Socket, ConnectionContext> create,
        ChannelWriter<ConnectionContext> accepted, ILogger logger, Func<CancellationToken, ValueTask<Socket>>? accept = null)
    {
        _listening = listening;
        _accept = accept ?? listening.AcceptAsync;
        _name = name;
        _create = create;
        _accepted = accepted;
        _logger = logger;
    }

    /// <summary>Connections accepted and not closed yet.</summary>
    public int OpenConnections => _open.Count;

    internal void Start() => _loop = Task.Run(AcceptLoopAsync);

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        var pause = MinPause;
        var pausing = false;
        while (!token.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _accept(token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Interrupted)
            {
                // The client gave up while waiting in the backlog.
                continue;
            }
            catch (SocketException e)
            {
                // Out of file descriptors (EMFILE/ENFILE) or buffers: the waiting clients stay in the backlog; try
                // again shortly rather than ending the loop, which would leave the socket deaf for good.
                if (!pausing)
                {
                    HostingLog.AcceptFailing(_logger, _name, e.SocketErrorCode.ToString(), e.Message);
                    pausing = true;
                }

                try
                {
                    await Task.Delay(pause, token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxPause.Ticks));
                continue;
            }

            if (pausing)
            {
                HostingLog.AcceptRecovered(_logger, _name);
                pausing = false;
                pause = MinPause;
            }

            ConnectionContext connection;
            try
            {
                connection = _create(accepted);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                accepted.Dispose();
                continue;
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
    }

    /// <summary>
    /// Stops accepting, closes the listening socket, asks every connection it accepted to close (HTTP/2 GOAWAY), and
    /// aborts those still open after <paramref name="grace"/>.
    /// </summary>
    public async Task CloseAsync(TimeSpan grace)
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        _listening.Dispose();
        await _loop;

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
        _stop.Dispose();
    }
}
