using DevicePlugin.Tests.TestSupport;
using Grpc.Core;

namespace DevicePlugin.Tests.Kubelet;

public sealed class AllocationServiceTests
{
    [Fact]
    public async Task Allocate_answers_each_container_with_the_ids_in_request_order()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);

        var request = new Api.V1Beta1.AllocateRequest();
        request.ContainerRequests.Add(new Api.V1Beta1.ContainerAllocateRequest { DevicesIds = { "sim-3", "sim-0" } });
        request.ContainerRequests.Add(new Api.V1Beta1.ContainerAllocateRequest { DevicesIds = { "sim-2" } });
        var response = await plugin.AllocateAsync(request);

        Assert.Equal(2, response.ContainerResponses.Count);
        Assert.Equal("sim-3,sim-0", response.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.Equal("sim-2", response.ContainerResponses[1].Envs["SIMULATED_DEVICES"]);
        Assert.Empty(response.ContainerResponses[0].Devices);
    }

    [Fact]
    public async Task Allocate_of_replicas_lists_each_physical_device_once()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(replicas: 3));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var response = await plugin.AllocateAsync("sim-2::1", "sim-0::2", "sim-2::0");
        Assert.Equal("sim-2,sim-0", response.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
    }

    [Theory]
    [InlineData(new[] { "sim-9" }, StatusCode.NotFound, "sim-9")]
    [InlineData(new[] { "sim-0", "nope" }, StatusCode.NotFound, "nope")]
    [InlineData(new string[0], StatusCode.InvalidArgument, "empty")]
    [InlineData(new[] { "sim-1" }, StatusCode.FailedPrecondition, "sim-1")]
    public async Task Allocate_refuses_bad_requests_with_a_status_naming_the_id_and_keeps_serving(string[] ids, StatusCode code, string named)
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        var plugin = await node.RegistrationAsync(Configs.Gpu);

        var e = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync(ids));
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(named, e.Status.Detail, StringComparison.Ordinal);

        var ok = await plugin.AllocateAsync("sim-0");
        Assert.Equal("sim-0", ok.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.False(plugin.StreamEnded);
        Assert.Contains("device_plugin_allocate_requests_total", await node.GetAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_allocate_request_with_no_containers_is_invalid()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var e = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync(new Api.V1Beta1.AllocateRequest()));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task Preferred_allocation_is_a_valid_set_on_the_fewest_numa_nodes()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        string[] all = ["sim-0", "sim-1", "sim-2", "sim-3", "sim-x"];

        var two = await plugin.GetPreferredAllocationAsync(all, ["sim-3"], 2);
        Assert.Equal(2, two.Count);
        Assert.Contains("sim-3", two);
        Assert.Contains("sim-2", two);

        var one = await plugin.GetPreferredAllocationAsync(["sim-0", "sim-2", "sim-3"], [], 2);
        Assert.Equal(["sim-2", "sim-3"], one.Order());

        // Unknown and duplicate IDs are ignored; a request larger than what is available returns what is available.
        var bounded = await plugin.GetPreferredAllocationAsync(["sim-0", "sim-0", "ghost"], [], 3);
        Assert.Equal(["sim-0"], bounded);
    }

    [Fact]
    public async Task PreStartContainer_fails_for_unknown_or_unhealthy_devices()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(sim1Health: "Unhealthy", preStart: true));
        var plugin = await node.RegistrationAsync(Configs.Gpu);

        await plugin.PreStartContainerAsync("sim-0", "sim-2");
        var unhealthy = await Assert.ThrowsAsync<RpcException>(() => plugin.PreStartContainerAsync("sim-0", "sim-1"));
        Assert.Equal(StatusCode.FailedPrecondition, unhealthy.StatusCode);
        Assert.Contains("sim-1", unhealthy.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => plugin.PreStartContainerAsync("ghost"));
        Assert.Equal(StatusCode.FailedPrecondition, unknown.StatusCode);
        Assert.Contains("ghost", unknown.Status.Detail, StringComparison.Ordinal);
    }
}
