using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using Grpc.Core;

namespace DevicePlugin.Allocation;

/// <summary>
/// Builds one container's Allocate response from a snapshot: device specs (host path = container path, "rw"),
/// the resource's environment variable with each physical ID once in request order, and CDI names when the
/// resource's naming asks for them. Pure and allocation-light: no I/O.
/// </summary>
public static class AllocateResponseBuilder
{
    public static ContainerAllocateResponse Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds)
    {
        if (requestedIds.Count == 0)
        {
            throw new AllocationException(StatusCode.InvalidArgument,
                $"empty device list in an Allocate request for {snapshot.ResourceName}");
        }

        var physical = new List<int>(requestedIds.Count);
        var seenDevices = new HashSet<int>();
        foreach (var id in requestedIds)
        {
            if (!snapshot.TryGet(id, out var advertised))
            {
                throw new AllocationException(StatusCode.NotFound,
                    $"device {id} is not a device of resource {snapshot.ResourceName}");
            }

            var device = snapshot.Devices[advertised.DeviceIndex];
            if (device.Health != DeviceHealth.Healthy)
            {
                throw new AllocationException(StatusCode.FailedPrecondition,
                    $"device {id} of resource {snapshot.ResourceName} is unhealthy"
                    + (device.UnhealthyReason is { } r ? $": {r}" : ""));
            }

            if (!seenDevices.Add(advertised.DeviceIndex))
            {
                if (snapshot.DistinctDevices)
                {
                    throw new AllocationException(StatusCode.FailedPrecondition,
                        $"device {id} shares physical device {device.Id} with another requested replica, and resource "
                        + $"{snapshot.ResourceName} is configured with distinctDevices: true");
                }

                continue;
            }

            physical.Add(advertised.DeviceIndex);
        }

        var response = new ContainerAllocateResponse();
        if (snapshot.Naming is DeviceNaming.Env or DeviceNaming.Both)
        {
            var paths = new HashSet<string>(StringComparer.Ordinal);
            foreach (var index in physical)
            {
                foreach (var node in snapshot.Devices[index].DeviceNodes)
                {
                    AddSpec(response, paths, node);
                }
            }

            foreach (var node in snapshot.SharedDeviceNodes)
            {
                AddSpec(response, paths, node);
            }

            response.Envs[snapshot.EnvironmentVariable] =
                string.Join(',', physical.Select(i => snapshot.Devices[i].Id));
        }

        if (snapshot.Naming is DeviceNaming.Cdi or DeviceNaming.Both)
        {
            foreach (var index in physical)
            {
                response.CdiDevices.Add(new CDIDevice { Name = CdiNames.Qualified(snapshot.CdiKind, snapshot.Devices[index].Id) });
            }
        }

        return response;
    }

    private static void AddSpec(ContainerAllocateResponse response, HashSet<string> paths, string node)
    {
        if (paths.Add(node))
        {
            response.Devices.Add(new DeviceSpec { ContainerPath = node, HostPath = node, Permissions = "rw" });
        }
    }
}
