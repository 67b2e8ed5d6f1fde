using System.Collections.Immutable;
using DevicePlugin.Allocation;
using DevicePlugin.Inventory;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Tests.Allocation;

public sealed class AllocateResponseBuilderTests
{
    private const string Variable = "PCI_RESOURCE_EXAMPLE_COM_FPGA";

    private static ResourceSnapshot Snapshot(DeviceNaming naming, int replicas = 1, bool distinct = false) =>
        new(
            "example.com/fpga",
            PciSchema.Kind,
            [
                new PhysicalDevice { Id = "0000:3b:00.0", DeviceNodes = ["/dev/dri/renderD128", "/dev/xclmgmt1"] }.Sets(Variable),
                new PhysicalDevice { Id = "0000:af:00.0", DeviceNodes = ["/dev/dri/renderD129"] }.Sets(Variable),
                new PhysicalDevice { Id = "0000:d8:00.0", Health = DeviceHealth.Unhealthy, UnhealthyReason = "AER fatal" }.Sets(Variable),
            ],
            replicas: replicas,
            sharedDeviceNodes: ["/dev/vfio/vfio"],
            naming: naming,
            distinctDevices: distinct);

    [Fact]
    public void Env_naming_gives_device_specs_and_the_env_var_in_request_order()
    {
        var response = AllocateResponseBuilder.Build(Snapshot(DeviceNaming.Env), ["0000:af:00.0", "0000:3b:00.0"]);
        Assert.Equal(
            ["/dev/dri/renderD129", "/dev/dri/renderD128", "/dev/xclmgmt1", "/dev/vfio/vfio"],
            response.Devices.Select(d => d.HostPath));
        Assert.All(response.Devices, d => Assert.Equal((d.HostPath, "rw"), (d.ContainerPath, d.Permissions)));
        Assert.Equal("0000:af:00.0,0000:3b:00.0", response.Envs["PCI_RESOURCE_EXAMPLE_COM_FPGA"]);
        Assert.Empty(response.CdiDevices);
    }

    [Fact]
    public void Cdi_naming_gives_only_cdi_device_names()
    {
        var response = AllocateResponseBuilder.Build(Snapshot(DeviceNaming.Cdi), ["0000:3b:00.0", "0000:af:00.0"]);
        Assert.Equal(
            ["example.com/fpga=0000:3b:00.0", "example.com/fpga=0000:af:00.0"], response.CdiDevices.Select(c => c.Name));
        Assert.Empty(response.Devices);
        Assert.Empty(response.Envs);
    }

    [Fact]
    public void Both_naming_gives_device_specs_env_and_cdi_names()
    {
        var response = AllocateResponseBuilder.Build(Snapshot(DeviceNaming.Both), ["0000:af:00.0"]);
        Assert.Equal(["/dev/dri/renderD129", "/dev/vfio/vfio"], response.Devices.Select(d => d.HostPath));
        Assert.Equal("0000:af:00.0", response.Envs["PCI_RESOURCE_EXAMPLE_COM_FPGA"]);
        Assert.Equal(["example.com/fpga=0000:af:00.0"], response.CdiDevices.Select(c => c.Name));
    }

    [Fact]
    public void Replicas_of_one_device_collapse_to_one_physical_device_without_distinct_devices()
    {
        var response = AllocateResponseBuilder.Build(
            Snapshot(DeviceNaming.Both, replicas: 2), ["0000:3b:00.0::1", "0000:3b:00.0::0", "0000:af:00.0::0"]);
        Assert.Equal("0000:3b:00.0,0000:af:00.0", response.Envs["PCI_RESOURCE_EXAMPLE_COM_FPGA"]);
        Assert.Equal(2, response.CdiDevices.Count);
        Assert.Equal(4, response.Devices.Count);
    }

    [Fact]
    public void Distinct_devices_refuses_two_replicas_of_one_device_and_names_it()
    {
        var snapshot = Snapshot(DeviceNaming.Env, replicas: 2, distinct: true);
        var error = Assert.Throws<AllocationException>(
            () => AllocateResponseBuilder.Build(snapshot, ["0000:3b:00.0::0", "0000:3b:00.0::1"]));
        Assert.Equal(StatusCode.FailedPrecondition, error.Code);
        Assert.Contains("0000:3b:00.0::1", error.Message);
        Assert.Contains("distinctDevices", error.Message);

        var fine = AllocateResponseBuilder.Build(snapshot, ["0000:3b:00.0::1", "0000:af:00.0::1"]);
        Assert.Equal("0000:3b:00.0,0000:af:00.0", fine.Envs["PCI_RESOURCE_EXAMPLE_COM_FPGA"]);
    }

    [Fact]
    public void Bad_requests_get_status_codes_naming_the_id()
    {
        var snapshot = Snapshot(DeviceNaming.Env);
        var empty = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(snapshot, []));
        Assert.Equal(StatusCode.InvalidArgument, empty.Code);

        var unknown = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(snapshot, ["0000:00:00.0"]));
        Assert.Equal(StatusCode.NotFound, unknown.Code);
        Assert.Contains("0000:00:00.0", unknown.Message);

        var sick = Assert.Throws<AllocationException>(() => AllocateResponseBuilder.Build(snapshot, ["0000:d8:00.0"]));
        Assert.Equal(StatusCode.FailedPrecondition, sick.Code);
        Assert.Contains("0000:d8:00.0", sick.Message);
        Assert.Contains("AER fatal", sick.Message);
        Assert.Equal(StatusCode.FailedPrecondition, sick.ToRpcException().StatusCode);

        // The allocation layer itself names the kind; the kubelet layer chose the codes above.
        Assert.Equal(
            [AllocationErrorKind.EmptyRequest, AllocationErrorKind.UnknownDevice, AllocationErrorKind.UnhealthyDevice],
            [empty.Kind, unknown.Kind, sick.Kind]);
        Assert.Equal(
            AllocationErrorKind.UnhealthyDevice,
            Assert.Throws<AllocationException>(() => ContainerAllocationBuilder.Build(snapshot, ["0000:d8:00.0"])).Kind);
        Assert.Null(DeviceUsability.Check(snapshot, "0000:3b:00.0", out var usable));
        Assert.Equal("0000:3b:00.0", usable.Id);
    }
}
