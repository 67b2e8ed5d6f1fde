using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// Builds one container's allocation from a snapshot: device nodes, the resource's environment variable with each
/// physical ID once in request order, and CDI names when the resource's naming asks for them. Pure and
/// allocation-light: no I/O. Refusals are thrown as <see cref="AllocationException"/> with their kind.
/// </summary>
public static class ContainerAllocationBuilder
{
    public static ContainerAllocation Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds)
    {
        if (requestedIds.Count == 0)
        {
            throw new AllocationException(AllocationErrorKind.EmptyRequest,
                $"empty device list in an Allocate request for {snapshot.ResourceName}");
        }

        var physical = new List<int>(requestedIds.Count);
        var seenDevices = new HashSet<int>();
        foreach (var id in requestedIds)
        {
            if (DeviceUsability.Check(snapshot, id, out var advertised) is { } refusal)
            {
                throw refusal;
            }

            if (!seenDevices.Add(advertised.DeviceIndex))
            {
                if (snapshot.DistinctDevices)
                {
                    throw new AllocationException(AllocationErrorKind.SharedPhysicalDevice,
                        $"device {id} shares physical device {snapshot.Devices[advertised.DeviceIndex].Id} with another "
                        + $"requested replica, and resource {snapshot.ResourceName} is configured with distinctDevices: true");
                }

                continue;
            }

            physical.Add(advertised.DeviceIndex);
        }

        var nodes = ImmutableArray<string>.Empty;
        var environment = ImmutableArray<KeyValuePair<string, string>>.Empty;
        if (snapshot.Naming is DeviceNaming.Env or DeviceNaming.Both)
        {
            var paths = new HashSet<string>(StringComparer.Ordinal);
            var ordered = ImmutableArray.CreateBuilder<string>();
            foreach (var index in physical)
            {
                foreach (var node in snapshot.Devices[index].DeviceNodes)
                {
                    if (paths.Add(node))
                    {
                        ordered.Add(node);
                    }
                }
            }

            foreach (var node in snapshot.SharedDeviceNodes)
            {
                if (paths.Add(node))
                {
                    ordered.Add(node);
                }
            }

            nodes = ordered.DrainToImmutable();
            environment =
            [
                new(snapshot.EnvironmentVariable, string.Join(',', physical.Select(i => snapshot.Devices[i].Id))),
            ];
        }

        var cdi = ImmutableArray<string>.Empty;
        if (snapshot.Naming is DeviceNaming.Cdi or DeviceNaming.Both)
        {
            var names = ImmutableArray.CreateBuilder<string>(physical.Count);
            foreach (var index in physical)
            {
                names.Add(CdiNames.Qualified(snapshot.CdiKind, snapshot.Devices[index].Id));
            }

            cdi = names.MoveToImmutable();
        }

        return new ContainerAllocation { DeviceNodes = nodes, Environment = environment, CdiDevices = cdi };
    }
}
