using System.Collections.Immutable;
using DevicePlugin.Allocation;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Grpc.Core;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>Discovery through the real binding against the stand-in library.</summary>
public sealed class NvmlDiscoveryTests
{
    // Listed out of PCI order on purpose: the snapshot sorts by PCI address.
    private const string FourGpus = """
        gpu uuid=GPU-c name="NVIDIA A100-SXM4-80GB" memory=85899345920 minor=2 pci=00000000:AF:00.0 numa=1 cc=8.0
        gpu uuid=GPU-a name="NVIDIA A100-SXM4-80GB" memory=85899345920 minor=0 pci=00000000:3B:00.0 numa=0 cc=8.0
        gpu uuid=GPU-d name="Tesla T4" memory=16106127360 minor=3 pci=00000001:D8:00.0 numa=none cc=7.5
        gpu uuid=GPU-b name="Tesla T4" memory=16106127360 minor=1 pci=00000000:5E:00.0 numa=none cc=7.5 mig=none
        """;

    [Fact]
    public async Task Discovers_every_gpu_with_its_properties_sorted_by_pci_address()
    {
        await using var h = Create(FourGpus);
        h.SetSysfsNuma("0000:5e:00.0", "1");
        h.SetSysfsNuma("0001:d8:00.0", "-1");
        h.CreateDeviceNode("nvidiactl");
        h.CreateDeviceNode("nvidia-uvm");

        var snapshot = await h.StartAsync();

        Assert.Equal("nvidia.com/gpu", snapshot.ResourceName);
        Assert.Equal(NvmlSchema.Kind, snapshot.Source);
        Assert.Equal(["GPU-a", "GPU-b", "GPU-c", "GPU-d"], Ids(snapshot));
        Assert.Equal(["0000:3b:00.0", "0000:5e:00.0", "0000:af:00.0", "0001:d8:00.0"], snapshot.Devices.Select(d => d.PciAddress));
        Assert.Equal([0, 1, 1, null], snapshot.Devices.Select(d => d.NumaNode));
        Assert.Equal(["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"], snapshot.Devices.Select(d => Assert.Single(d.DeviceNodes)));
        Assert.All(snapshot.Devices, d => Assert.Equal(DeviceHealth.Healthy, d.Health));
        Assert.Equal(["/dev/nvidiactl", "/dev/nvidia-uvm"], snapshot.SharedDeviceNodes.ToArray());

        var c = Device(snapshot, "GPU-c");
        Assert.Equal("NVIDIA A100-SXM4-80GB", c.Attributes["name"]);
        Assert.Equal("85899345920", c.Attributes["memory"]);
        Assert.Equal("8.0", c.Attributes["computeCapability"]);
        Assert.Equal("2", c.Attributes["minor"]);
        Assert.Equal("7.5", Device(snapshot, "GPU-d").Attributes["computeCapability"]);
        Assert.True(h.Logs.CountContaining("GPU GPU-c (NVIDIA A100-SXM4-80GB) pci 0000:af:00.0 minor 2 memory 81920 MiB") == 1);
    }

    [Fact]
    public async Task Numa_comes_from_nvml_before_sysfs_and_an_unreadable_sysfs_file_means_unknown()
    {
        await using var h = Create(FourGpus);
        h.SetSysfsNuma("0000:3b:00.0", "5");          // NVML says 0: NVML wins
        h.SetSysfsNuma("0001:d8:00.0", "not a number"); // NVML has none, sysfs garbage: unknown
        // 0000:5e:00.0 has no sysfs file at all: unknown

        var snapshot = await h.StartAsync();

        Assert.Equal(0, Device(snapshot, "GPU-a").NumaNode);
        Assert.Null(Device(snapshot, "GPU-b").NumaNode);
        Assert.Null(Device(snapshot, "GPU-d").NumaNode);
        Assert.Equal(1, h.Logs.CountContaining("'not a number' is not a number"));
    }

    [Fact]
    public async Task Snapshot_carries_the_resource_options_and_extra_device_nodes()
    {
        await using var h = Create(Gpus(2));
        h.CreateDeviceNode("nvidiactl");
        var resource = Resource("example.com/gpu", replicas: 3) with
        {
            PreStart = true,
            Naming = DeviceNaming.Both,
            DistinctDevices = true,
            ExtraDeviceNodes = ["/dev/nvidia-caps/nvidia-cap1", "/dev/nvidiactl"],
        };

        await h.ApplyAsync(resource);

        var snapshot = Assert.Single(h.Sink.Latest);
        Assert.Equal("example.com/gpu", snapshot.ResourceName);
        Assert.Equal(3, snapshot.Replicas);
        Assert.True(snapshot.PreStartRequired);
        Assert.Equal(DeviceNaming.Both, snapshot.Naming);
        Assert.True(snapshot.DistinctDevices);
        Assert.Equal(["/dev/nvidiactl", "/dev/nvidia-caps/nvidia-cap1"], snapshot.SharedDeviceNodes.ToArray());
        Assert.Equal([$"{Uuid(0)}::0", $"{Uuid(0)}::1", $"{Uuid(0)}::2", $"{Uuid(1)}::0", $"{Uuid(1)}::1", $"{Uuid(1)}::2"],
            snapshot.Advertised.Select(a => a.Id));
    }

    [Fact]
    public async Task Two_nvml_resources_each_get_every_gpu_and_other_sources_resources_are_ignored()
    {
        await using var h = Create(Gpus(2));
        var pci = new ResourceConfig { Name = "example.com/fpga", Source = PciSchema.Kind, Settings = new PciSettings() };

        await h.ApplyAsync(Resource("nvidia.com/gpu"), pci, Resource("nvidia.com/shared-gpu", replicas: 2));

        Assert.Equal(["nvidia.com/gpu", "nvidia.com/shared-gpu"], h.Sink.Latest.Select(s => s.ResourceName));
        Assert.All(h.Sink.Latest, s => Assert.Equal([Uuid(0), Uuid(1)], Ids(s)));
    }

    [Fact]
    public async Task Allocate_from_the_snapshot_gives_device_nodes_shared_nodes_and_uuids_in_request_order()
    {
        await using var h = Create(FourGpus);
        foreach (var node in (string[])["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"])
        {
            h.CreateDeviceNode(node);
        }

        var snapshot = await h.StartAsync();
        var response = AllocateResponseBuilder.Build(snapshot, ["GPU-d", "GPU-a"]);

        Assert.Equal(
            ["/dev/nvidia3", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"],
            response.Devices.Select(d => d.HostPath));
        Assert.All(response.Devices, d =>
        {
            Assert.Equal(d.HostPath, d.ContainerPath);
            Assert.Equal("rw", d.Permissions);
        });
        Assert.Equal("GPU-d,GPU-a", Assert.Single(response.Envs, e => e.Key == "NVIDIA_VISIBLE_DEVICES").Value);
    }

    [Fact]
    public async Task Allocate_of_replicas_names_each_gpu_once_in_request_order()
    {
        await using var h = Create(FourGpus);
        var snapshot = await h.StartAsync(replicas: 2);

        var response = AllocateResponseBuilder.Build(snapshot, ["GPU-c::1", "GPU-a::0", "GPU-c::0"]);

        Assert.Equal("GPU-c,GPU-a", response.Envs["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal(["/dev/nvidia2", "/dev/nvidia0"], response.Devices.Select(d => d.HostPath));
        var unknown = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(snapshot, ["GPU-c::2"]));
        Assert.Equal(StatusCode.NotFound, unknown.Code);
    }

    [Fact]
    public async Task A_gpu_in_mig_mode_is_not_advertised_but_counted_and_logged()
    {
        await using var h = Create("""
            gpu uuid=GPU-whole minor=0 pci=00000000:18:00.0 mig=0
            gpu uuid=GPU-mig minor=1 pci=00000000:28:00.0 mig=1
            gpu uuid=GPU-old minor=2 pci=00000000:38:00.0 mig=none
            """);

        var snapshot = await h.StartAsync();

        Assert.Equal(["GPU-whole", "GPU-old"], Ids(snapshot));
        Assert.Equal(1, h.Source.MigGpusSkipped);
        Assert.Equal(1, h.Logs.CountContaining("GPU GPU-mig at 0000:28:00.0 is in MIG mode"));
    }

    [Fact]
    public async Task Shared_device_nodes_are_rechecked_in_the_background()
    {
        await using var h = Create(Gpus(1));
        h.CreateDeviceNode("nvidiactl");
        var first = await h.StartAsync();
        Assert.Equal(["/dev/nvidiactl"], first.SharedDeviceNodes.ToArray());

        h.CreateDeviceNode("nvidia-modeset");
        var second = await h.WaitForAsync(s => s.SharedDeviceNodes.Length == 2);
        Assert.Equal(["/dev/nvidiactl", "/dev/nvidia-modeset"], second.SharedDeviceNodes.ToArray());

        File.Delete(Path.Combine(h.DevRoot, "nvidiactl"));
        var third = await h.WaitForAsync(s => s.SharedDeviceNodes.Length == 1);
        Assert.Equal(["/dev/nvidia-modeset"], third.SharedDeviceNodes.ToArray());
    }

    [Fact]
    public async Task A_config_change_republishes_without_initialising_nvml_again()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        h.Health = new HealthConfig { RecoverAfter = TimeSpan.FromMinutes(1) };
        await h.ApplyAsync(Resource(replicas: 4));

        var snapshot = Assert.Single(h.Sink.Latest);
        Assert.Equal(4, snapshot.Replicas);
        Assert.Equal(8, snapshot.Advertised.Length);
        Assert.Equal(1, h.Fake.Calls("nvmlInit_v2"));
        Assert.Equal(0, h.Fake.Calls("nvmlShutdown"));
    }

    [Fact]
    public async Task Removing_every_nvml_resource_withdraws_them_and_shuts_nvml_down_and_adding_one_starts_it_again()
    {
        await using var h = Create(Gpus(2));
        await h.StartAsync();

        await h.ApplyAsync(new PluginConfig());
        Assert.Empty(h.Sink.Latest);
        Assert.False(h.Source.IsRunning);
        Assert.Equal(1, h.Fake.Calls("nvmlShutdown"));
        Assert.Equal(1, h.Fake.Calls("nvmlEventSetFree"));

        var again = await h.StartAsync();
        Assert.Equal([Uuid(0), Uuid(1)], Ids(again));
        Assert.Equal(2, h.Fake.Calls("nvmlInit_v2"));
    }

    [Fact]
    public async Task A_gpu_whose_identity_cannot_be_read_is_left_out_and_the_others_are_advertised()
    {
        await using var h = Create("""
            gpu uuid=GPU-good minor=0 pci=00000000:18:00.0
            gpu uuid=GPU-bad minor=1 pci=garbage
            """);

        var snapshot = await h.StartAsync();

        Assert.Equal(["GPU-good"], Ids(snapshot));
        Assert.Equal(1, h.Logs.CountContaining("GPU at NVML index 1 is left out"));
    }

    [Fact]
    public async Task Without_optional_functions_the_driver_still_works_and_each_missing_function_is_logged_once()
    {
        await using var h = Create(FourGpus, withOptionalFunctions: false);
        h.SetSysfsNuma("0000:3b:00.0", "0");
        h.SetSysfsNuma("0000:5e:00.0", "0");
        h.SetSysfsNuma("0000:af:00.0", "1");
        h.SetSysfsNuma("0001:d8:00.0", "1");

        var snapshot = await h.StartAsync();

        Assert.Equal(["GPU-a", "GPU-b", "GPU-c", "GPU-d"], Ids(snapshot));
        Assert.Equal([0, 0, 1, 1], snapshot.Devices.Select(d => d.NumaNode));
        Assert.All(snapshot.Devices, d => Assert.False(d.Attributes.ContainsKey("computeCapability")));
        Assert.Equal(InterconnectLevel.SameNumaNode, snapshot.Topology.Level(0, 1));
        Assert.Equal(InterconnectLevel.CrossSocket, snapshot.Topology.Level(1, 2));
        Assert.Equal(0, snapshot.Topology.NvLinks(0, 1));
        ImmutableArray<string> optional =
        [
            "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetNumaNodeId", "nvmlDeviceGetMigMode",
            "nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetNvLinkState", "nvmlDeviceGetNvLinkRemotePciInfo_v2",
            "nvmlDeviceGetSupportedEventTypes", "nvmlSystemGetCudaDriverVersion",
        ];
        foreach (var function in optional)
        {
            Assert.Equal(1, h.Logs.CountContaining($"NVML function {function} is missing"));
        }

        Assert.Equal(optional.Length, h.Logs.CountContaining("is missing from this driver"));

        // Health still works: events are registered unmasked.
        h.Fake.Inject("xid 0 79"); // file index 0 is GPU-c
        var after = await h.WaitForAsync(s => Device(s, "GPU-c").Health == DeviceHealth.Unhealthy);
        Assert.Equal(1, after.Devices.Count(d => d.Health == DeviceHealth.Unhealthy));
    }
}
