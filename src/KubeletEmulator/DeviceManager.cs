using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.KubeletEmulator;

/// <summary>
/// The kubelet device manager's choice of devices for one container and one resource: devices of finished init
/// containers first, then, under a NUMA hint, the aligned devices (the plugin's preferred ones among them first), then
/// the plugin's preferred ones among all available, then the rest in ID order.
/// </summary>
internal static class DeviceManager
{
    private const int MaxHintNodes = 8;

    public sealed record Choice(
        IReadOnlyList<string> DeviceIds, IReadOnlyList<string> Reused, IReadOnlyList<long> Hint, PreferredAllocationCall? Preferred);

    /// <param name="plugin">The resource's current connection.</param>
    /// <param name="count">The container's request.</param>
    /// <param name="reusable">This pod's devices that earlier init containers held and later containers may take.</param>
    /// <param name="inUse">Every device of the resource held by any pod, this one included (reusable ones too).</param>
    /// <param name="explicitHint">The container's own NUMA affinity, if any.</param>
    /// <param name="policy">The Topology Manager policy for a computed hint.</param>
    /// <param name="cancellationToken">Cancels the calls to the plugin.</param>
    public static async Task<Choice> ChooseAsync(
        PluginConnection plugin, int count, IReadOnlyCollection<string> reusable, IReadOnlySet<string> inUse,
        IReadOnlyList<long>? explicitHint, TopologyPolicy policy, CancellationToken cancellationToken)
    {
        var resource = plugin.ResourceName;
        var devices = plugin.StreamEnded ? [] : plugin.LatestList?.Devices ?? [];
        var healthy = devices.Where(d => d.Health == "Healthy").ToDictionary(d => d.ID, StringComparer.Ordinal);

        var allocated = new List<string>();
        var needed = count;
        bool TakeFrom(IEnumerable<string> ids)
        {
            foreach (var id in ids.Order(StringComparer.Ordinal))
            {
                if (needed == 0)
                {
                    break;
                }

                if (!allocated.Contains(id))
                {
                    allocated.Add(id);
                    needed--;
                }
            }

            return needed == 0;
        }

        var reusableHealthy = reusable.Where(healthy.ContainsKey).ToArray();
        if (TakeFrom(reusableHealthy))
        {
            return new Choice(allocated, allocated.ToArray(), [], null);
        }

        var reused = allocated.ToArray();
        var available = healthy.Keys.Where(id => !inUse.Contains(id)).Order(StringComparer.Ordinal).ToArray();
        if (available.Length < needed)
        {
            throw new PodAdmissionException($"requested number of devices unavailable for {resource}. Requested: {count}, Available: {available.Length + reused.Length}");
        }

        var hint = explicitHint ?? ComputeHint(devices, healthy, available, reusableHealthy, count, policy, resource);
        var aligned = new List<string>();
        var unaligned = new List<string>();
        var noAffinity = new List<string>();
        var alignable = hint.Count > 0 && devices.All(d => d.Topology?.Nodes.Count > 0);
        foreach (var id in available)
        {
            var nodes = healthy[id].Topology?.Nodes;
            if (!alignable || nodes is null || nodes.Count == 0)
            {
                noAffinity.Add(id);
            }
            else if (nodes.Any(n => hint.Contains(n.ID)))
            {
                aligned.Add(id);
            }
            else
            {
                unaligned.Add(id);
            }
        }

        PreferredAllocationCall? call = null;
        if (needed < aligned.Count)
        {
            call = await PreferredAsync(plugin, aligned.Union(allocated), allocated, count, cancellationToken);
            if (TakeFrom(call?.Returned.Intersect(aligned) ?? []) || TakeFrom(aligned))
            {
                return new Choice(allocated, reused, alignable ? hint : [], call);
            }
        }

        if (!TakeFrom(aligned))
        {
            call = await PreferredAsync(plugin, available.Union(allocated), allocated, count, cancellationToken);
            _ = TakeFrom(call?.Returned.Intersect(available) ?? []) || TakeFrom(unaligned) || TakeFrom(noAffinity);
        }

        if (needed > 0)
        {
            throw new PodAdmissionException($"unexpectedly allocated less resources than required for {resource}. Requested: {count}, Got: {count - needed}");
        }

        return new Choice(allocated, reused, alignable ? hint : [], call);
    }

    private static async Task<PreferredAllocationCall?> PreferredAsync(
        PluginConnection plugin, IEnumerable<string> available, IReadOnlyList<string> mustInclude, int size, CancellationToken cancellationToken)
    {
        if (!plugin.Options.GetPreferredAllocationAvailable)
        {
            return null;
        }

        var availableIds = available.Order(StringComparer.Ordinal).ToArray();
        var must = mustInclude.ToArray();
        try
        {
            var returned = await plugin.GetPreferredAllocationAsync(availableIds, must, size, cancellationToken);
            return new PreferredAllocationCall(availableIds, must, size, returned);
        }
        catch (RpcException e)
        {
            throw new PodAdmissionException($"GetPreferredAllocation of {plugin.ResourceName} failed: {e.StatusCode}: {e.Status.Detail}", e);
        }
    }

    /// <summary>
    /// The Topology Manager's hint for a container that asks only for this resource: the narrowest NUMA node set
    /// (lowest-numbered among equals) whose available devices can hold the request; preferred when no narrower set
    /// could hold it even on an empty node. Empty: no hint (policy none, or a device without topology).
    /// </summary>
    private static long[] ComputeHint(
        IReadOnlyList<Device> devices, IReadOnlyDictionary<string, Device> healthy, IReadOnlyList<string> available,
        IReadOnlyList<string> reusable, int count, TopologyPolicy policy, string resource)
    {
        if (policy == TopologyPolicy.None || devices.Count == 0 || devices.Any(d => d.Topology is not { Nodes.Count: > 0 }))
        {
            return [];
        }

        var nodes = devices.SelectMany(d => d.Topology.Nodes.Select(n => n.ID)).Distinct().Order().ToArray();
        if (nodes.Length > MaxHintNodes)
        {
            return [];
        }

        bool Matches(Device d, long[] mask) => d.Topology.Nodes.Any(n => mask.Contains(n.ID));
        var minAffinity = int.MaxValue;
        long[]? best = null;
        var bestBits = 0;
        for (var bits = 1; bits < 1 << nodes.Length; bits++)
        {
            var mask = nodes.Where((_, i) => (bits & (1 << i)) != 0).ToArray();
            if (devices.Count(d => Matches(d, mask)) >= count)
            {
                minAffinity = Math.Min(minAffinity, mask.Length);
            }

            var matching = reusable.Concat(available).Count(id => Matches(healthy[id], mask));
            // Narrower wins; among equally wide sets the lower bit mask (the kubelet's IsNarrowerThan).
            if (matching >= count && (best is null || mask.Length < best.Length || (mask.Length == best.Length && bits < bestBits)))
            {
                best = mask;
                bestBits = bits;
            }
        }

        var preferred = best is not null && best.Length == minAffinity;
        var refused = policy switch
        {
            TopologyPolicy.Restricted => !preferred,
            TopologyPolicy.SingleNumaNode => !preferred || best!.Length != 1,
            _ => false,
        };
        if (refused)
        {
            throw new PodAdmissionException($"Topology Affinity Error: {count} {resource} cannot be allocated with "
                + (policy == TopologyPolicy.SingleNumaNode ? "single NUMA node" : "preferred NUMA") + " locality");
        }

        return best ?? [];
    }
}
