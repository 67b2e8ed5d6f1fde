using System.Net.Sockets;
using DevicePlugin.Hosting;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Hosting;

public sealed class SocketAcceptorTests
{
    private sealed class Marker;

    [Fact]
    public async Task Accept_errors_such_as_running_out_of_file_descriptors_pause_the_loop_instead_of_ending_it()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("s.sock");
        var logs = new RecordingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var transport = new DynamicSocketTransport(loggers);
        var endpoint = transport.CreateEndPoint("test");
        await using var listener = await transport.BindAsync(endpoint);

        var listening = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listening.Bind(new UnixDomainSocketEndPoint(path));
        listening.Listen(16);
        // The first three accepts fail as they do at the open-file limit (EMFILE); the client waits in the backlog.
        var failures = 3;
        ValueTask<Socket> Accept(CancellationToken token) =>
            Interlocked.Decrement(ref failures) >= 0
                ? ValueTask.FromException<Socket>(new SocketException((int)SocketError.TooManyOpenSockets))
                : listening.AcceptAsync(token);
        var marker = new Marker();
        var acceptor = transport.Add(endpoint, listening, marker, "test-socket", Accept);

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        var connection = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.NotNull(connection);
        Assert.Same(marker, connection.Features.Get<Marker>());
        Assert.Single(logs.Lines, l => l.Contains("test-socket: cannot accept connections (TooManyOpenSockets", StringComparison.Ordinal));
        Assert.True(logs.Contains("test-socket: accepting connections again"), string.Join('\n', logs.Lines));
        Assert.Equal(1, acceptor.OpenConnections);

        await acceptor.CloseAsync(TimeSpan.Zero);
        await connection.DisposeAsync();
    }
}
