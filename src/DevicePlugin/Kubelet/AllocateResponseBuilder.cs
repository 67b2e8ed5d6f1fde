using DevicePlugin.Allocation;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;

namespace DevicePlugin.Kubelet;

/// <summary>
/// One container's Allocate response in the kubelet's terms: the domain allocation of
/// <see cref="ContainerAllocationBuilder"/> as device specs (host path = container path, "rw"), envs and CDI devices.
/// </summary>
public static class AllocateResponseBuilder
{
    /// <summary>Builds the response; a refusal is thrown as <see cref="AllocationException"/> (mapped by <see cref="AllocationStatus"/>).</summary>
    public static ContainerAllocateResponse Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds) =>
        ToProto(ContainerAllocationBuilder.Build(snapshot, requestedIds));

    public static ContainerAllocateResponse ToProto(ContainerAllocation allocation)
    {
        var response = new ContainerAllocateResponse();
        foreach (var node in allocation.DeviceNodes)
        {
            response.Devices.Add(new DeviceSpec { ContainerPath = node, HostPath = node, Permissions = "rw" });
        }

        foreach (var (name, value) in allocation.Environment)
        {
            response.Envs[name] = value;
        }

        foreach (var name in allocation.CdiDevices)
        {
            response.CdiDevices.Add(new CDIDevice { Name = name });
        }

        return response;
    }
}
