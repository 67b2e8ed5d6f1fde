using DevicePlugin.Inventory;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;

namespace DevicePlugin.Tests.Kubelet;

/// <summary>Device IDs longer than any device ID can be: refused at once, quoted short, and the connection stays usable.</summary>
public sealed class OversizedRequestTests
{
    private static readonly TimeSpan CallLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_64_KiB_id_is_invalid_argument_quoting_128_characters_and_later_calls_on_the_connection_succeed()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var id = "sim-" + new string('x', 64 * 1024);

        using var limit = new CancellationTokenSource(CallLimit);
        var request = new Api.V1Beta1.AllocateRequest { ContainerRequests = { new Api.V1Beta1.ContainerAllocateRequest { DevicesIds = { "sim-0", id } } } };
        var e = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync(request, limit.Token));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(id[..128] + "…", e.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(id[..129], e.Status.Detail, StringComparison.Ordinal);
        Assert.True(e.Status.Detail.Length < 400, e.Status.Detail);
        Assert.All(node.Logs.Lines, l => Assert.True(l.Length < 1024, $"a log line of {l.Length} characters"));

        // The same HTTP/2 connection answers the next call.
        using var next = new CancellationTokenSource(CallLimit);
        var ok = await plugin.AllocateAsync(new Api.V1Beta1.AllocateRequest { ContainerRequests = { new Api.V1Beta1.ContainerAllocateRequest { DevicesIds = { "sim-0" } } } }, next.Token);
        Assert.Equal("sim-0", ok.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.False(plugin.StreamEnded);
    }

    [Fact]
    public async Task An_id_over_128_characters_is_invalid_argument_on_every_method_and_one_of_128_is_only_unknown()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(preStart: true));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var tooLong = new string('a', ClientText.MaxDeviceIdLength + 1);
        var longest = new string('a', ClientText.MaxDeviceIdLength);

        var allocate = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync(tooLong));
        Assert.Equal(StatusCode.InvalidArgument, allocate.StatusCode);
        Assert.Contains("129 characters", allocate.Status.Detail, StringComparison.Ordinal);

        var preStart = await Assert.ThrowsAsync<RpcException>(() => plugin.PreStartContainerAsync("sim-0", tooLong));
        Assert.Equal(StatusCode.InvalidArgument, preStart.StatusCode);

        var preferredAvailable = await Assert.ThrowsAsync<RpcException>(() => plugin.GetPreferredAllocationAsync(["sim-0", tooLong], [], 1));
        Assert.Equal(StatusCode.InvalidArgument, preferredAvailable.StatusCode);
        var preferredMust = await Assert.ThrowsAsync<RpcException>(() => plugin.GetPreferredAllocationAsync(["sim-0"], [tooLong], 1));
        Assert.Equal(StatusCode.InvalidArgument, preferredMust.StatusCode);
        Assert.True(node.Logs.Contains("GetPreferredAllocation refused"));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync(longest));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains(longest, unknown.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(["sim-0"], await plugin.GetPreferredAllocationAsync(["sim-0"], [], 1));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(128, 128)]
    [InlineData(129, 129)]
    [InlineData(100_000, 129)]
    public void Outside_text_is_quoted_up_to_128_characters_then_an_ellipsis(int length, int quotedLength)
    {
        var quoted = ClientText.Quote(new string('q', length));
        Assert.Equal(quotedLength, quoted.Length);
        Assert.Equal(length > 128, quoted.EndsWith('…'));
    }

    [Fact]
    public void A_surrogate_pair_is_never_cut_in_half()
    {
        var text = new string('q', 127) + "\U0001F600" + "tail";
        var quoted = ClientText.Quote(text);
        Assert.Equal(new string('q', 127) + "…", quoted);
    }
}
