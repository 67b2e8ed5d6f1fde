using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>The whole daemon with the pci source on a fake sysfs tree, seen from the kubelet emulator.</summary>
public sealed class PciDaemonTests
{
    private const string Config = """
        resources:
          - name: amd.com/gpu
            source: pci
            match:
              - vendor: "0x1002"
                driver: amdgpu
            extraDeviceNodes: [/dev/kfd]
          - name: example.com/vfio
            source: pci
            match:
              - vendor: "0x10ee"
                driver: vfio-pci
        health:
          recoverAfter: 0
        """;

    [Fact]
    public async Task Devices_env_and_nodes_reach_the_kubelet_and_an_unbound_driver_turns_the_device_unhealthy()
    {
        using var sysfs = new FakeSysfs();
        var root = sysfs.RootComplex("0000:00");
        var gpu0 = root.Bridge("0000:00:01.0", numa: 0).Function("0000:03:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 0)
            .CharDevice("drm/card1", "dri/card1", minor: 1).CharDevice("drm/renderD128", "dri/renderD128");
        root.Bridge("0000:00:02.0", numa: 1).Function("0000:83:00.0", 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1)
            .CharDevice("drm/card2", "dri/card2", minor: 2).CharDevice("drm/renderD129", "dri/renderD129", minor: 129);
        root.Bridge("0000:00:03.0", numa: 0).Function("0000:05:00.0", 0x10ee, 0x5005, 0x120000, "vfio-pci", numa: 0, iommuGroup: 42);
        root.Function("0000:00:1f.0", 0x8086, 0x1533, 0x020000, "igb", numa: 0); // a NIC: noise
        sysfs.DeviceNode("kfd").DeviceNode("vfio/vfio").DeviceNode("vfio/42");

        await using var node = await PluginNode.StartAsync(Config, options: o => o with { SysfsRoot = sysfs.SysRoot, DevRoot = sysfs.DevRoot });
        var gpus = await node.RegistrationAsync("amd.com/gpu");
        var list = await gpus.WaitForListAsync(l => l.HealthyCount == 2, PluginNode.Wait);
        Assert.Equal(["0000:03:00.0", "0000:83:00.0"], list.Devices.Select(d => d.ID));
        Assert.Equal([0L, 1L], list.Devices.Select(d => d.Topology.Nodes.Single().ID));

        var response = (await gpus.AllocateAsync("0000:83:00.0", "0000:03:00.0")).ContainerResponses.Single();
        Assert.Equal("0000:83:00.0,0000:03:00.0", response.Envs["PCI_RESOURCE_AMD_COM_GPU"]);
        Assert.Equal(["/dev/dri/card2", "/dev/dri/renderD129", "/dev/dri/card1", "/dev/dri/renderD128", "/dev/kfd"],
            response.Devices.Select(d => d.HostPath));

        var vfio = await node.RegistrationAsync("example.com/vfio");
        await vfio.WaitForListAsync(l => l.Devices.Count == 1, PluginNode.Wait);
        var passthrough = (await vfio.AllocateAsync("0000:05:00.0")).ContainerResponses.Single();
        Assert.Equal(["/dev/vfio/vfio", "/dev/vfio/42"], passthrough.Devices.Select(d => d.HostPath));
        Assert.Equal("0000:05:00.0", passthrough.Envs["PCI_RESOURCE_EXAMPLE_COM_VFIO"]);

        gpu0.BindDriver(null);
        var unhealthy = await gpus.WaitForListAsync(l => !l.IsHealthy("0000:03:00.0"), PluginNode.Wait);
        Assert.True(unhealthy.IsHealthy("0000:83:00.0"));
        var metrics = await Eventually.ValueAsync(node.ScrapeAsync, m => m.Of("device_plugin_device_health", ("device", "0000:03:00.0")).Any(s => s.Value == 0));
        Assert.Contains("device_plugin_device_faults_total{resource=\"amd.com/gpu\",device=\"0000:03:00.0\",kind=\"driver_unbound\",code=\"\"} 1",
            metrics.Text, StringComparison.Ordinal);
        Assert.Equal(0, metrics.Value("device_plugin_device_faults_total", ("device", "0000:03:00.0"), ("kind", "aer_fatal")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health", ("device", "0000:83:00.0"), ("model", "1002:740f"), ("pci_address", "0000:83:00.0")));
        Assert.Equal(1, metrics.Value("device_plugin_device_health_transitions_total",
            ("resource", "amd.com/gpu"), ("device", "0000:03:00.0"), ("to", "Unhealthy"), ("cause", "driver_unbound")));
    }
}
