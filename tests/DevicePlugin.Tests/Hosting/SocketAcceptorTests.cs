using System.Net.Sockets;
using DevicePlugin.Hosting;
using DevicePlugin.Tests.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Hosting;

public sealed class SocketAcceptorTests
{
    private sealed class Marker;

    [Fact]
    public async Task Accept_errors_such_as_running_out_of_file_descriptors_are_logged_once_shown_in_loop_health_and_the_loop_accepts_again()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("s.sock");
        var logs = new RecordingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var loops = new LoopHealth(registry);
        using var transport = new DynamicSocketTransport(loggers, loops);
        var endpoint = transport.CreateEndPoint("test");
        await using var listener = await transport.BindAsync(endpoint);

        var listening = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listening.Bind(new UnixDomainSocketEndPoint(path));
        listening.Listen(16);
        // Accepts fail as they do at the open-file limit (EMFILE) until the test says otherwise; the client waits in
        // the backlog meanwhile.
        var failing = 1;
        var failed = 0;
        ValueTask<Socket> Accept(CancellationToken token)
        {
            if (Volatile.Read(ref failing) == 1)
            {
                Interlocked.Increment(ref failed);
                return ValueTask.FromException<Socket>(new SocketException((int)SocketError.TooManyOpenSockets));
            }

            return listening.AcceptAsync(token);
        }

        var marker = new Marker();
        var acceptor = transport.Add(endpoint, listening, marker, "test-socket", Accept);
        Assert.Equal("accept test-socket", acceptor.LoopName);
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));

        // Failing: retried with backoff, shown to /readyz (LoopHealth) and in the loop metrics, logged once.
        await Eventually.TrueAsync(() => Volatile.Read(ref failed) >= 3, "the failed accept is retried");
        Assert.StartsWith("SocketException: ", loops.Failing["accept test-socket"], StringComparison.Ordinal);
        var metrics = await NvmlHealthLoopTests.LoopMetricsAsync(registry);
        Assert.Equal(1, metrics.Value("device_plugin_background_loop_failing", ("loop", "accept test-socket")));
        Assert.True(metrics.Value("device_plugin_background_loop_errors_total", ("loop", "accept test-socket")) >= 3);
        Assert.Single(logs.Lines, l => l.Contains("background loop accept test-socket: a pass failed (SocketException", StringComparison.Ordinal));

        // The descriptors are back: the waiting client is served and the failure is cleared.
        Volatile.Write(ref failing, 0);
        var connection = await listener.AcceptAsync().AsTask().WaitAsync(PluginNode.Wait);
        Assert.NotNull(connection);
        Assert.Same(marker, connection.Features.Get<Marker>());
        // The pass records its success just after it hands the connection on: wait for the line.
        await Eventually.TrueAsync(() => logs.Contains("background loop accept test-socket: a pass succeeded after"), "the recovery is logged");
        Assert.Empty(loops.Failing);
        metrics = await NvmlHealthLoopTests.LoopMetricsAsync(registry);
        Assert.Equal(0, metrics.Value("device_plugin_background_loop_failing", ("loop", "accept test-socket")));
        Assert.Equal(1, acceptor.OpenConnections);

        // Closing ends the loop quietly: the accept the closed socket cuts short is no failure.
        await acceptor.CloseAsync(TimeSpan.Zero);
        await connection.DisposeAsync();
        Assert.Single(logs.Lines, l => l.Contains("a pass failed", StringComparison.Ordinal));
        Assert.Empty(loops.Failing);
    }
}
