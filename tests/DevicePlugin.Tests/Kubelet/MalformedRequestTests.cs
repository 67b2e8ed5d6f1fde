using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;

namespace DevicePlugin.Tests.Kubelet;

/// <summary>Bytes that are no protobuf message, sent as a request body over the plugin's own socket.</summary>
public sealed class MalformedRequestTests
{
    /// <summary>A raw method: the bytes go out as they are.</summary>
    public static Method<byte[], byte[]> Raw(string name, MethodType type = MethodType.Unary) =>
        new(type, "v1beta1.DevicePlugin", name, Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    public static readonly TheoryData<byte[]> Garbage = new()
    {
        new byte[] { 0x0A, 0x05, 0x01 },            // field 1, 5 bytes announced, 1 sent
        new byte[] { 0x00 },                        // tag zero
        new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, // a length that is no varint
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task Every_method_answers_malformed_protobuf_with_invalid_argument_and_one_log_line_and_the_connection_keeps_working(byte[] garbage)
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(preStart: true));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        using var channel = UnixSocketChannel.Create(plugin.SocketPath);
        var invoker = channel.CreateCallInvoker();
        string[] unary = ["Allocate", "GetPreferredAllocation", "PreStartContainer", "GetDevicePluginOptions"];

        foreach (var method in unary)
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
                await invoker.AsyncUnaryCall(Raw(method), null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), garbage));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("malformed", e.Status.Detail, StringComparison.Ordinal);
            Assert.Contains(method, e.Status.Detail, StringComparison.Ordinal);
        }

        using (var stream = invoker.AsyncServerStreamingCall(Raw("ListAndWatch", MethodType.ServerStreaming), null,
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), garbage))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        }

        // One line of ours per call; nothing the daemon would print (its own lines, anyone's from Warning up: the
        // daemon keeps Grpc and Microsoft below Warning out) is at Error or carries a stack trace.
        Assert.Equal(5, node.Logs.Lines.Count(l => l.Contains("refused: malformed", StringComparison.Ordinal)));
        var printed = node.Logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal)
            || l.StartsWith("Critical", StringComparison.Ordinal) || l.Split(' ', 3)[1].StartsWith("DevicePlugin.", StringComparison.Ordinal)).ToArray();
        var bad = printed.Where(l => l.Contains("Exception was thrown by handler", StringComparison.Ordinal)
            || l.Contains("   at ", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)).ToArray();
        Assert.True(bad.Length == 0, string.Join('\n', bad));

        // The same channel answers valid calls; the kubelet's stream never noticed.
        var client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(channel);
        var request = new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { "sim-0" } } } };
        var ok = await client.AllocateAsync(request, deadline: DateTime.UtcNow.AddSeconds(20));
        Assert.Equal("sim-0", ok.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.True((await client.GetDevicePluginOptionsAsync(new Empty(), deadline: DateTime.UtcNow.AddSeconds(20))).PreStartRequired);
        Assert.False(plugin.StreamEnded);
    }
}
