using System.Buffers;
using System.Runtime.CompilerServices;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using Grpc.Core;

namespace DevicePlugin.Allocation;

/// <summary>
/// Builds one container's Allocate response from a snapshot: device specs (host path = container path, "rw"),
/// the resource's environment variable with each physical ID once in request order, and CDI names when the
/// resource's naming asks for them. Pure and allocation-light: no I/O, and beyond the response itself only the
/// strings it carries (the physical device indices live on the stack or in a pooled array).
/// </summary>
public static class AllocateResponseBuilder
{
    private const string ReadWrite = "rw";

    /// <summary>Requests up to this many IDs keep their working set on the stack.</summary>
    private const int StackLimit = 64;

    /// <summary>Above this many device specs, duplicates are found with a set rather than by scanning.</summary>
    private const int ScanLimit = 16;

    public static ContainerAllocateResponse Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds)
    {
        var count = requestedIds.Count;
        if (count == 0)
        {
            throw new AllocationException(StatusCode.InvalidArgument,
                $"empty device list in an Allocate request for {snapshot.ResourceName}");
        }

        int[]? rented = null;
        Span<int> buffer = count <= StackLimit ? stackalloc int[StackLimit] : (rented = ArrayPool<int>.Shared.Rent(count));
        try
        {
            var physical = buffer[..CollectPhysical(snapshot, requestedIds, buffer)];
            var response = new ContainerAllocateResponse();
            if (snapshot.Naming is DeviceNaming.Env or DeviceNaming.Both)
            {
                AddDeviceSpecs(snapshot, physical, response);
                response.Envs[snapshot.EnvironmentVariable] = JoinIds(snapshot, physical);
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
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Checks every requested ID and writes each physical device's index once, in request order.</summary>
    private static int CollectPhysical(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds, Span<int> physical)
    {
        var n = 0;
        for (var i = 0; i < requestedIds.Count; i++)
        {
            var id = requestedIds[i];
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

            if (physical[..n].Contains(advertised.DeviceIndex))
            {
                if (snapshot.DistinctDevices)
                {
                    throw new AllocationException(StatusCode.FailedPrecondition,
                        $"device {id} shares physical device {device.Id} with another requested replica, and resource "
                        + $"{snapshot.ResourceName} is configured with distinctDevices: true");
                }

                continue;
            }

            physical[n++] = advertised.DeviceIndex;
        }

        return n;
    }

    /// <summary>Each device node of the chosen devices, then the resource's shared nodes, each path once.</summary>
    private static void AddDeviceSpecs(ResourceSnapshot snapshot, ReadOnlySpan<int> physical, ContainerAllocateResponse response)
    {
        HashSet<string>? seen = null;
        foreach (var index in physical)
        {
            foreach (var node in snapshot.Devices[index].DeviceNodes)
            {
                AddSpec(response, ref seen, node);
            }
        }

        foreach (var node in snapshot.SharedDeviceNodes)
        {
            AddSpec(response, ref seen, node);
        }
    }

    private static void AddSpec(ContainerAllocateResponse response, ref HashSet<string>? seen, string node)
    {
        var specs = response.Devices;
        if (seen is null && specs.Count >= ScanLimit)
        {
            seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < specs.Count; i++)
            {
                seen.Add(specs[i].HostPath);
            }
        }

        if (seen is not null ? !seen.Add(node) : Scan(specs, node))
        {
            return;
        }

        specs.Add(new DeviceSpec { ContainerPath = node, HostPath = node, Permissions = ReadWrite });
    }

    private static bool Scan(Google.Protobuf.Collections.RepeatedField<DeviceSpec> specs, string node)
    {
        for (var i = 0; i < specs.Count; i++)
        {
            if (string.Equals(specs[i].HostPath, node, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The physical IDs joined with ',', built in a stack buffer: only the result is allocated.</summary>
    private static string JoinIds(ResourceSnapshot snapshot, ReadOnlySpan<int> physical)
    {
        if (physical.Length == 1)
        {
            return snapshot.Devices[physical[0]].Id;
        }

        var text = new DefaultInterpolatedStringHandler(0, 0, null, stackalloc char[256]);
        for (var i = 0; i < physical.Length; i++)
        {
            if (i > 0)
            {
                text.AppendFormatted(',');
            }

            text.AppendFormatted(snapshot.Devices[physical[i]].Id);
        }

        return text.ToStringAndClear();
    }
}
