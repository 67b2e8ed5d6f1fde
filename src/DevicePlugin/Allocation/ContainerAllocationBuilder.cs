using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using DevicePlugin.Inventory;

namespace DevicePlugin.Allocation;

/// <summary>
/// Builds one container's allocation from a snapshot: device nodes, the devices' environment entries (each variable
/// once, its values joined with ',' in request order, each physical device once), and CDI names when the resource's
/// naming asks for them. Device nodes and environment come from each device's own edits, as the CDI spec's do. Pure and
/// allocation-light: no I/O. Refusals are thrown as <see cref="AllocationException"/> with their kind.
/// </summary>
public static class ContainerAllocationBuilder
{
    /// <summary>Requests up to this many IDs keep their working set on the stack.</summary>
    private const int StackLimit = 64;

    /// <summary>Above this many device nodes, duplicates are found with a set rather than by scanning.</summary>
    private const int ScanLimit = 16;

    public static ContainerAllocation Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds)
    {
        if (requestedIds.Count == 0)
        {
            throw new AllocationException(AllocationErrorKind.EmptyRequest,
                $"empty device list in an Allocate request for {snapshot.ResourceName}");
        }

        // The physical device indices live on the stack (or in a pooled array for very large requests).
        var count = requestedIds.Count;
        int[]? rented = null;
        Span<int> buffer = count <= StackLimit ? stackalloc int[StackLimit] : (rented = ArrayPool<int>.Shared.Rent(count));
        try
        {
            return Build(snapshot, requestedIds, buffer);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    private static ContainerAllocation Build(ResourceSnapshot snapshot, IReadOnlyList<string> requestedIds, Span<int> buffer)
    {
        var n = 0;
        for (var i = 0; i < requestedIds.Count; i++)
        {
            var id = requestedIds[i];
            if (DeviceUsability.Check(snapshot, id, out var advertised) is { } refusal)
            {
                throw refusal;
            }

            if (buffer[..n].Contains(advertised.DeviceIndex))
            {
                if (snapshot.DistinctDevices)
                {
                    throw new AllocationException(AllocationErrorKind.SharedPhysicalDevice,
                        $"device {id} shares physical device {snapshot.Devices[advertised.DeviceIndex].Id} with another "
                        + $"requested replica, and resource {snapshot.ResourceName} is configured with distinctDevices: true");
                }

                continue;
            }

            buffer[n++] = advertised.DeviceIndex;
        }

        ReadOnlySpan<int> physical = buffer[..n];

        var nodes = ImmutableArray<string>.Empty;
        var environment = ImmutableArray<KeyValuePair<string, string>>.Empty;
        if (snapshot.Naming is DeviceNaming.Env or DeviceNaming.Both)
        {
            HashSet<string>? paths = null;
            var ordered = ImmutableArray.CreateBuilder<string>();
            foreach (var index in physical)
            {
                foreach (var node in snapshot.Devices[index].DeviceNodes)
                {
                    AddOnce(ordered, ref paths, node);
                }
            }

            foreach (var node in snapshot.SharedDeviceNodes)
            {
                AddOnce(ordered, ref paths, node);
            }

            nodes = ordered.DrainToImmutable();
            environment = JoinEnvironment(snapshot, physical);
        }

        var cdi = ImmutableArray<string>.Empty;
        if (snapshot.Naming is DeviceNaming.Cdi or DeviceNaming.Both)
        {
            var names = ImmutableArray.CreateBuilder<string>(physical.Length);
            foreach (var index in physical)
            {
                names.Add(CdiNames.Qualified(snapshot.CdiKind, snapshot.Devices[index].Id));
            }

            cdi = names.MoveToImmutable();
        }

        return new ContainerAllocation { DeviceNodes = nodes, Environment = environment, CdiDevices = cdi };
    }

    /// <summary>Adds a device node unless already there: a scan while the list is short, a set beyond that.</summary>
    private static void AddOnce(ImmutableArray<string>.Builder ordered, ref HashSet<string>? seen, string node)
    {
        if (seen is null && ordered.Count >= ScanLimit)
        {
            seen = new HashSet<string>(ordered, StringComparer.Ordinal);
        }

        if (seen is not null ? seen.Add(node) : !ordered.Contains(node, StringComparer.Ordinal))
        {
            ordered.Add(node);
        }
    }

    /// <summary>
    /// The devices' environment entries: each variable once, in the order first seen, its values joined with ','.
    /// The common case (every device sets the same one variable) builds only the joined value, in a stack buffer.
    /// </summary>
    private static ImmutableArray<KeyValuePair<string, string>> JoinEnvironment(ResourceSnapshot snapshot, ReadOnlySpan<int> physical)
    {
        string? single = null;
        foreach (var index in physical)
        {
            var entries = snapshot.Devices[index].Environment;
            if (entries.Length != 1 || (single is not null && !string.Equals(single, entries[0].Key, StringComparison.Ordinal)))
            {
                return JoinEnvironmentGeneral(snapshot, physical);
            }

            single = entries[0].Key;
        }

        return single is null ? [] : [new(single, JoinValues(snapshot, physical))];
    }

    private static ImmutableArray<KeyValuePair<string, string>> JoinEnvironmentGeneral(ResourceSnapshot snapshot, ReadOnlySpan<int> physical)
    {
        var order = new List<string>();
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var index in physical)
        {
            foreach (var (name, value) in snapshot.Devices[index].Environment)
            {
                if (!values.TryGetValue(name, out var list))
                {
                    values[name] = list = [];
                    order.Add(name);
                }

                list.Add(value);
            }
        }

        return [.. order.Select(name => new KeyValuePair<string, string>(name, string.Join(',', values[name])))];
    }

    /// <summary>The devices' one environment value each, joined with ',', built in a stack buffer: only the result is allocated.</summary>
    private static string JoinValues(ResourceSnapshot snapshot, ReadOnlySpan<int> physical)
    {
        if (physical.Length == 1)
        {
            return snapshot.Devices[physical[0]].Environment[0].Value;
        }

        var text = new DefaultInterpolatedStringHandler(0, 0, null, stackalloc char[256]);
        for (var i = 0; i < physical.Length; i++)
        {
            if (i > 0)
            {
                text.AppendFormatted(',');
            }

            text.AppendFormatted(snapshot.Devices[physical[i]].Environment[0].Value);
        }

        return text.ToStringAndClear();
    }
}
