using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// Connection middleware that closes a connection which sends nothing within <see cref="DefaultTimeout"/> of being
/// accepted. The kubelet writes the HTTP/2 preface at once and a scraper its request line, so only a stuck or hostile
/// client waits; without this such a connection would hold a descriptor (and a slot of
/// <see cref="KestrelLimits"/>' connection limit) until the server stops. Nothing is consumed: the server reads the
/// first bytes as if the middleware were not there.
/// </summary>
public static class FirstByteDeadline
{
    /// <summary>How long an accepted connection may stay silent.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(TimeSpan timeout, TimeProvider time, ILogger logger) =>
        next => async connection =>
        {
            if (!await FirstByteArrivedAsync(connection, timeout, time, logger))
            {
                return;
            }

            await next(connection);
        };

    /// <summary>
    /// Waits for the connection's first byte; false when the deadline passed (the connection is aborted) or the peer
    /// went away before sending anything.
    /// </summary>
    public static async Task<bool> FirstByteArrivedAsync(ConnectionContext connection, TimeSpan timeout, TimeProvider time, ILogger logger)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, connection.ConnectionClosed);
        var input = connection.Transport.Input;
        try
        {
            var result = await input.ReadAsync(either.Token);
            var buffer = result.Buffer;

            // Consume and examine nothing: the server's own first read sees these bytes.
            input.AdvanceTo(buffer.Start, buffer.Start);
            return !(buffer.IsEmpty && result.IsCompleted);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !connection.ConnectionClosed.IsCancellationRequested)
        {
            HostingLog.SilentConnectionClosed(logger, connection.LocalEndPoint?.ToString() ?? "?", (long)timeout.TotalMilliseconds);
            connection.Abort(new ConnectionAbortedException($"no byte received within {timeout.TotalSeconds:0.###} s"));
            return false;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException)
        {
            // The connection closed or the server is stopping: nothing to serve.
            return false;
        }
    }
}
