using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using DevicePlugin.Hosting;
using DevicePlugin.Tests.TestSupport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevicePlugin.Tests.Hosting;

/// <summary>A connection that never sends a byte is closed after a bounded time; one that sends is served untouched.</summary>
public sealed class FirstByteDeadlineTests
{
    private static (DefaultConnectionContext Connection, Pipe FromClient) Connection()
    {
        var fromClient = new Pipe();
        var toClient = new Pipe();
        var transport = new DuplexPipe(fromClient.Reader, toClient.Writer);
        var application = new DuplexPipe(toClient.Reader, fromClient.Writer);
        return (new DefaultConnectionContext("c1", transport, application), fromClient);
    }

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    [Fact]
    public async Task A_silent_connection_is_aborted_when_the_deadline_passes()
    {
        var time = new ManualTimeProvider();
        var (connection, _) = Connection();
        var waiting = FirstByteDeadline.FirstByteArrivedAsync(connection, TimeSpan.FromSeconds(10), time, NullLogger.Instance);

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(waiting.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        await Eventually.TrueAsync(() => connection.ConnectionClosed.IsCancellationRequested, "the connection is aborted");
    }

    [Fact]
    public async Task The_first_bytes_are_left_for_the_server_to_read()
    {
        var time = new ManualTimeProvider();
        var (connection, fromClient) = Connection();
        var waiting = FirstByteDeadline.FirstByteArrivedAsync(connection, TimeSpan.FromSeconds(10), time, NullLogger.Instance);

        await fromClient.Writer.WriteAsync("PRI * HTTP/2.0"u8.ToArray());
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(30)));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);
        var read = await connection.Transport.Input.ReadAsync();
        Assert.Equal("PRI * HTTP/2.0", System.Text.Encoding.ASCII.GetString(read.Buffer.ToArray()));
    }

    [Fact]
    public async Task A_peer_that_closes_without_a_byte_is_not_served()
    {
        var (connection, fromClient) = Connection();
        var waiting = FirstByteDeadline.FirstByteArrivedAsync(connection, TimeSpan.FromSeconds(10), TimeProvider.System, NullLogger.Instance);
        await fromClient.Writer.CompleteAsync();
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task The_daemon_closes_a_resource_socket_connection_that_sends_nothing_and_keeps_serving()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.HealthyCount == 5, PluginNode.Wait);
        var socketPath = Directory.GetFiles(node.KubeletDirectory, "*.sock").Single(p => Path.GetFileName(p) != "kubelet.sock");

        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await silent.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));

        // The server closes it (a read returns 0) after FirstByteDeadline.DefaultTimeout (10 s); before, never.
        var buffer = new byte[64];
        var read = await silent.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, read);

        // The kubelet's own connection and stream are untouched.
        Assert.False(plugin.StreamEnded);
        Assert.Same(plugin, node.Kubelet.Plugins[Configs.Gpu]);
    }
}
