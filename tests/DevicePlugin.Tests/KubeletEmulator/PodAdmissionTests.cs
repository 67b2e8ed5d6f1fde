using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.KubeletEmulator;

/// <summary>The emulator admits pods as the kubelet's device manager does, against the real daemon.</summary>
public sealed class PodAdmissionTests
{
    /// <summary>Two NUMA nodes of two devices each, every device with a known node.</summary>
    private static string NumaConfig(string sim1Health = "Healthy", bool preStart = false) => $"""
        resources:
          - name: {Configs.Gpu}
            source: simulated
            preStart: {(preStart ? "true" : "false")}
            devices:
              - {"{"} id: sim-0, numa: 0 {"}"}
              - {"{"} id: sim-1, numa: 0, health: {sim1Health} {"}"}
              - {"{"} id: sim-2, numa: 1 {"}"}
              - {"{"} id: sim-3, numa: 1 {"}"}
        """;

    private static async Task<PluginNode> StartAsync(string config)
    {
        var node = await PluginNode.StartAsync(config);
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count > 0, PluginNode.Wait);
        return node;
    }

    [Fact]
    public async Task An_init_containers_devices_are_reused_by_the_next_container_and_sent_as_must_include()
    {
        await using var node = await StartAsync(NumaConfig());
        var pod = new PodSpec("trainer")
        {
            InitContainers = { new ContainerSpec("warm-up") { Limits = { [Configs.Gpu] = 1 } } },
            Containers = { new ContainerSpec("main") { Limits = { [Configs.Gpu] = 2 } } },
        };

        var admitted = await node.Kubelet.AdmitPodAsync(pod);

        var init = admitted.Allocation("warm-up", Configs.Gpu);
        Assert.True(init.IsInit);
        var reused = Assert.Single(init.DeviceIds);
        var main = admitted.Allocation("main", Configs.Gpu);
        Assert.Equal([reused], main.ReusedDeviceIds);
        Assert.Contains(reused, main.DeviceIds);
        Assert.Equal(2, main.DeviceIds.Count);
        Assert.NotNull(main.Preferred);
        Assert.Equal([reused], main.Preferred!.MustInclude);
        Assert.Contains(reused, main.Preferred.Available);
        Assert.Equal(2, main.Preferred.Size);
        // The plugin prefers the reused device's NUMA neighbour; the kubelet kept its choice.
        Assert.Equal(main.Preferred.Returned.Order(), main.DeviceIds.Order());
        Assert.Equal(string.Join(",", main.DeviceIds), main.Response.Envs["SIMULATED_DEVICES"]);
        Assert.Single(node.Kubelet.Pods);
    }

    [Fact]
    public async Task A_sidecar_keeps_its_devices_and_the_pods_devices_are_not_given_to_another_pod()
    {
        await using var node = await StartAsync(NumaConfig());
        var pod = new PodSpec("with-sidecar")
        {
            InitContainers = { new ContainerSpec("sidecar") { Restartable = true, Limits = { [Configs.Gpu] = 1 } } },
            Containers = { new ContainerSpec("main") { Limits = { [Configs.Gpu] = 1 } } },
        };

        var admitted = await node.Kubelet.AdmitPodAsync(pod);
        var sidecar = Assert.Single(admitted.DevicesOf("sidecar", Configs.Gpu));
        var main = Assert.Single(admitted.DevicesOf("main", Configs.Gpu));
        Assert.NotEqual(sidecar, main);
        Assert.Empty(admitted.Allocation("main", Configs.Gpu).ReusedDeviceIds);

        var other = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("other", Configs.Gpu, 2));
        Assert.Empty(other.DevicesOf("main", Configs.Gpu).Intersect([sidecar, main]));

        var refused = await Assert.ThrowsAsync<PodAdmissionException>(() => node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("third", Configs.Gpu, 1)));
        Assert.Contains("Requested: 1, Available: 0", refused.Message);
        Assert.Contains("default/third", refused.Message);

        Assert.True(node.Kubelet.RemovePod("other"));
        var third = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("third", Configs.Gpu, 2));
        Assert.Equal(other.DevicesOf("main", Configs.Gpu).Order(), third.DevicesOf("main", Configs.Gpu).Order());
    }

    [Fact]
    public async Task Best_effort_topology_hints_pick_the_narrowest_numa_node_that_can_hold_the_request()
    {
        await using var node = await StartAsync(NumaConfig(sim1Health: "Unhealthy"));
        node.Kubelet.TopologyPolicy = TopologyPolicy.BestEffort;

        // NUMA node 0 has one healthy device left, so two devices fit only on node 1.
        var pod = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("pair", Configs.Gpu, 2));
        var allocation = pod.Allocation("main", Configs.Gpu);
        Assert.Equal([1L], allocation.NumaHint);
        Assert.Equal(["sim-2", "sim-3"], allocation.DeviceIds.Order());
        Assert.Equal(1L, Assert.Single(allocation.DeviceNumaNodes["sim-2"]));

        // One device more cannot fit on one node: best-effort admits it across nodes.
        var wide = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("single", Configs.Gpu, 1));
        Assert.Equal(["sim-0"], wide.DevicesOf("main", Configs.Gpu));
    }

    [Fact]
    public async Task Single_numa_node_policy_refuses_a_request_no_node_can_hold_and_an_explicit_affinity_wins()
    {
        await using var node = await StartAsync(NumaConfig());
        node.Kubelet.TopologyPolicy = TopologyPolicy.SingleNumaNode;

        var refused = await Assert.ThrowsAsync<PodAdmissionException>(() => node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("three", Configs.Gpu, 3)));
        Assert.Contains("Topology Affinity Error", refused.Message);
        Assert.Empty(node.Kubelet.Pods);

        var pinned = new PodSpec("pinned") { Containers = { new ContainerSpec("main") { NumaAffinity = [1], Limits = { [Configs.Gpu] = 1 } } } };
        var admitted = await node.Kubelet.AdmitPodAsync(pinned);
        Assert.Equal([1L], admitted.Allocation("main", Configs.Gpu).NumaHint);
        Assert.Contains(Assert.Single(admitted.DevicesOf("main", Configs.Gpu)), new[] { "sim-2", "sim-3" });
    }

    [Fact]
    public async Task PreStartContainer_is_called_at_admission_and_again_on_a_container_restart_without_a_new_allocate()
    {
        await using var node = await StartAsync(NumaConfig(preStart: true));
        var pod = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("restarts", Configs.Gpu, 1));
        Assert.Equal(1, pod.Allocation("main", Configs.Gpu).PreStartCalls);

        var restarted = await node.Kubelet.RestartContainerAsync("restarts", "main");
        Assert.Equal(2, restarted.Allocation("main", Configs.Gpu).PreStartCalls);
        Assert.Equal(pod.DevicesOf("main", Configs.Gpu), restarted.DevicesOf("main", Configs.Gpu));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => node.Kubelet.RestartContainerAsync("restarts", "nope"));
    }

    [Fact]
    public async Task A_pod_for_an_unregistered_resource_or_an_unknown_device_is_refused_with_the_reason()
    {
        await using var node = await StartAsync(NumaConfig());
        var unknown = await Assert.ThrowsAsync<PodAdmissionException>(() => node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("p", "example.com/none", 1)));
        Assert.Contains("example.com/none is not registered", unknown.Message);

        var duplicate = new PodSpec("dup") { Containers = { new ContainerSpec("a"), new ContainerSpec("a") } };
        Assert.Contains("two containers named a", (await Assert.ThrowsAsync<PodAdmissionException>(() => node.Kubelet.AdmitPodAsync(duplicate))).Message);
        Assert.Empty(node.Kubelet.Pods);
    }

    [Fact]
    public async Task Admitted_pods_survive_a_kubelet_restart_and_keep_their_devices()
    {
        await using var node = await StartAsync(NumaConfig());
        var pod = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("kept", Configs.Gpu, 3));
        await node.Kubelet.RestartAsync();
        var plugin = await node.RegistrationAsync(Configs.Gpu, minGeneration: 2);
        await plugin.WaitForListAsync(l => l.Devices.Count == 4, PluginNode.Wait);

        Assert.Equal(pod, Assert.Single(node.Kubelet.Pods));
        var next = await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("next", Configs.Gpu, 1));
        Assert.DoesNotContain(Assert.Single(next.DevicesOf("main", Configs.Gpu)), pod.DevicesOf("main", Configs.Gpu));
    }
}
