using DevicePlugin.Api;
using DevicePlugin.Api.PodResources.V1;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;

namespace DevicePlugin.Tests.KubeletEmulator;

/// <summary>PodResources v1 served by the emulator from what it allocated, read by a real gRPC client over the socket.</summary>
public sealed class PodResourcesTests
{
    private static PodResourcesLister.PodResourcesListerClient Client(string socket) =>
        new(UnixSocketChannel.Create(socket));

    private static async Task<PluginNode> StartAsync(string config)
    {
        var node = await PluginNode.StartAsync(config, podResources: true);
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count > 0, PluginNode.Wait);
        return node;
    }

    [Fact]
    public async Task The_socket_is_the_kubelets_place_next_to_the_device_plugin_directory()
    {
        await using var node = await StartAsync(Configs.Simulated());
        Assert.Equal(Path.Combine(node.Root, "pod-resources", "kubelet.sock"), node.PodResourcesSocket);
        Assert.True(File.Exists(node.PodResourcesSocket));
        await node.Kubelet.StopAsync();
        Assert.False(File.Exists(node.PodResourcesSocket));
    }

    [Fact]
    public async Task List_reports_each_listed_container_with_the_ids_the_plugin_advertised_and_their_numa_nodes()
    {
        await using var node = await StartAsync(Configs.Simulated());
        var pod = new PodSpec("trainer", "ml")
        {
            InitContainers =
            {
                new ContainerSpec("setup") { Limits = { [Configs.Gpu] = 1 } },
                new ContainerSpec("sidecar") { Restartable = true },
            },
            Containers = { new ContainerSpec("main") { Limits = { [Configs.Gpu] = 2 } }, new ContainerSpec("cpu-only") },
        };
        var admitted = await node.Kubelet.AdmitPodAsync(pod);

        var list = await Client(node.PodResourcesSocket).ListAsync(new ListPodResourcesRequest());
        var resources = Assert.Single(list.PodResources);
        Assert.Equal("trainer", resources.Name);
        Assert.Equal("ml", resources.Namespace);
        // The finished init container is not listed; the sidecar comes before the app containers.
        Assert.Equal(["sidecar", "main", "cpu-only"], resources.Containers.Select(c => c.Name));
        var main = resources.Containers[1];
        Assert.All(main.Devices, d => Assert.Equal(Configs.Gpu, d.ResourceName));
        Assert.Equal(admitted.DevicesOf("main", Configs.Gpu).Order(), main.Devices.SelectMany(d => d.DeviceIds).Order());
        foreach (var entry in main.Devices)
        {
            var id = Assert.Single(entry.DeviceIds);
            if (id == "sim-x")
            {
                Assert.Null(entry.Topology);
            }
            else
            {
                Assert.Equal(id is "sim-0" or "sim-1" ? 0 : 1, Assert.Single(entry.Topology!.Nodes).ID);
            }
        }

        Assert.Empty(resources.Containers[2].Devices);
    }

    [Fact]
    public async Task Replica_ids_are_reported_exactly_as_allocated()
    {
        await using var node = await StartAsync(Configs.Simulated(replicas: 2));
        var admitted = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("shared", Configs.Gpu, 3));
        var ids = admitted.DevicesOf("main", Configs.Gpu);
        Assert.All(ids, id => Assert.Matches("^sim-[0-9x]::[01]$", id));

        var get = await Client(node.PodResourcesSocket).GetAsync(new GetPodResourcesRequest { PodName = "shared", PodNamespace = "default" });
        Assert.Equal(ids.Order(), get.PodResources.Containers.Single().Devices.SelectMany(d => d.DeviceIds).Order());
    }

    [Fact]
    public async Task GetAllocatableResources_reports_every_healthy_device_and_one_without_a_node_has_no_topology()
    {
        await using var node = await StartAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("holder", Configs.Gpu, 1));

        var allocatable = await Client(node.PodResourcesSocket).GetAllocatableResourcesAsync(new AllocatableResourcesRequest());
        // Capacity, not what is free: the held device is listed; the unhealthy one is not.
        Assert.Equal(["sim-0", "sim-2", "sim-3", "sim-x"], allocatable.Devices.Select(d => Assert.Single(d.DeviceIds)).Order());
        Assert.Null(allocatable.Devices.Single(d => d.DeviceIds[0] == "sim-x").Topology);
        Assert.Equal(1, Assert.Single(allocatable.Devices.Single(d => d.DeviceIds[0] == "sim-3").Topology.Nodes).ID);
    }

    [Fact]
    public async Task Get_of_an_unknown_pod_is_an_error_naming_it_and_a_removed_pod_is_gone()
    {
        await using var node = await StartAsync(Configs.Simulated());
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("short-lived", Configs.Gpu, 1));
        var client = Client(node.PodResourcesSocket);
        Assert.Single((await client.ListAsync(new ListPodResourcesRequest())).PodResources);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.GetAsync(new GetPodResourcesRequest { PodName = "missing", PodNamespace = "default" }));
        Assert.Contains("pod missing not found in default", error.Status.Detail);

        Assert.True(node.Kubelet.RemovePod("short-lived"));
        Assert.Empty((await client.ListAsync(new ListPodResourcesRequest())).PodResources);
    }

    [Fact]
    public async Task After_a_kubelet_restart_the_socket_is_new_and_still_lists_the_pods()
    {
        await using var node = await StartAsync(Configs.Simulated());
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("survivor", Configs.Gpu, 2));
        await node.Kubelet.RestartAsync();

        var list = await Client(node.PodResourcesSocket).ListAsync(new ListPodResourcesRequest());
        Assert.Equal(2, Assert.Single(list.PodResources).Containers.Single().Devices.Count);
    }

    [Fact]
    public async Task Calls_beyond_the_rate_limit_get_resource_exhausted()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("device-plugins");
        await using var kubelet = new EmulatedKubelet(kubeletDir)
        {
            PodResourcesSocketPath = EmulatedKubelet.DefaultPodResourcesSocketPath(kubeletDir),
            PodResourcesBurst = 3,
            PodResourcesRatePerSecond = 0.001,
        };
        await kubelet.StartAsync();
        var client = Client(kubelet.PodResourcesSocketPath!);
        for (var i = 0; i < 3; i++)
        {
            await client.ListAsync(new ListPodResourcesRequest());
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.ListAsync(new ListPodResourcesRequest()));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("rejected by rate limit", error.Status.Detail);
    }
}
