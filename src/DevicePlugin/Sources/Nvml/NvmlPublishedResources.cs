using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// Turns the health monitor's state into the published resources of one configured <c>nvml</c> resource, by its
/// <c>migStrategy</c>: <c>none</c> advertises the GPUs that are not in MIG mode; <c>single</c> advertises every MIG
/// device under the resource's name when every GPU is in MIG mode with one profile, the whole GPUs when none is, and
/// otherwise nothing (with the reason); <c>mixed</c> advertises the whole GPUs under the name and one derived resource
/// per MIG profile, <c>&lt;domain&gt;/mig-&lt;profile&gt;</c>. Devices only: replicas, naming and the other options are
/// the policy the manager joins in.
/// </summary>
internal static class NvmlPublishedResources
{
    /// <summary>The published resources; <paramref name="refusal"/> says why a <c>single</c> resource advertises nothing.</summary>
    public static IEnumerable<PublishedResource> Build(NvmlHealthState state, ResourceRequest resource, out NvmlMigRefusal? refusal)
    {
        refusal = null;
        var set = state.Set;
        var whole = Enumerable.Range(0, set.Gpus.Length).Where(i => !set.Gpus[i].MigEnabled).ToArray();
        PublishedResource Snapshot(string name, ImmutableArray<PhysicalDevice> devices, TopologyMatrix topology) =>
            new(name, devices, topology, state.SharedDeviceNodes, configuredName: resource.Name);
        PublishedResource Whole() => whole.Length == set.Gpus.Length
            ? Snapshot(resource.Name, state.Devices, state.Topology)
            : Snapshot(resource.Name, [.. whole.Select(i => state.Devices[i])], state.Topology.Project(whole));
        PublishedResource Migs(string name, int[] indices) =>
            Snapshot(name, [.. indices.Select(k => state.MigDevices[k])], state.Topology.Project([.. indices.Select(k => set.MigParents[k])]));

        switch (resource.SettingsAs<NvmlSettings>().MigStrategy)
        {
            case MigStrategy.Single:
                refusal = SingleRefusal(set, whole.Length);
                if (refusal is not null)
                {
                    return [Snapshot(resource.Name, [], TopologyMatrix.Empty)];
                }

                return [whole.Length == set.Gpus.Length ? Whole() : Migs(resource.Name, [.. Enumerable.Range(0, set.MigDevices.Length)])];

            case MigStrategy.Mixed:
                var domain = resource.Name[..resource.Name.IndexOf('/', StringComparison.Ordinal)];
                var profiles = Enumerable.Range(0, set.MigDevices.Length)
                    .GroupBy(k => set.MigDevices[k].Profile, StringComparer.Ordinal)
                    .OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => Migs($"{domain}/mig-{g.Key}", [.. g]));
                return [Whole(), .. profiles];

            default:
                return [Whole()];
        }
    }

    /// <summary>
    /// Every published resource of the configured resources (by their <c>migStrategy</c>), logging a <c>single</c>
    /// resource that starts or stops refusing (against <paramref name="before"/>); empty while NVML is not running.
    /// </summary>
    public static ImmutableArray<PublishedResource> BuildAll(NvmlSession? session, ImmutableArray<ResourceRequest> resources,
        ImmutableDictionary<string, NvmlMigRefusal> before, ILogger logger, out ImmutableDictionary<string, NvmlMigRefusal> refusals)
    {
        refusals = ImmutableDictionary<string, NvmlMigRefusal>.Empty;
        var snapshots = ImmutableArray.CreateBuilder<PublishedResource>();
        if (session is not null && !resources.IsDefaultOrEmpty)
        {
            var state = session.Monitor.State;
            foreach (var resource in resources)
            {
                snapshots.AddRange(Build(state, resource, out var refusal));
                var refusedBefore = before.GetValueOrDefault(resource.Name);
                if (refusal is not null)
                {
                    refusals = refusals.SetItem(resource.Name, refusal);
                    if (refusedBefore?.Message != refusal.Message)
                    {
                        NvmlLog.MigSingleRefused(logger, resource.Name, refusal.Message);
                    }
                }
                else if (refusedBefore is not null)
                {
                    NvmlLog.MigSingleAccepted(logger, resource.Name, $"{snapshots[^1].Devices.Length} device(s)");
                }
            }
        }

        var first = session is null || resources.IsDefaultOrEmpty ? -1 : IndexOf(snapshots, resources[0].Name);
        if (first >= 0)
        {
            // gpu-feature-discovery's labels describe one resource: the first nvml resource configured.
            // Replicas come from the policy: the labels are finished when the manager joins it in.
            var set = session!.Monitor.State.Set;
            var strategy = resources[0].SettingsAs<NvmlSettings>().MigStrategy;
            var labelled = snapshots[first];
            snapshots[first] = new PublishedResource(labelled.ResourceName, labelled.Devices, labelled.Topology,
                labelled.SharedDeviceNodes, labelled.ConfiguredName)
            {
                FeatureLabels = policy => NvmlFeatureLabels.For(session, set, policy.Replicas, strategy),
            };
        }

        return snapshots.ToImmutable();
    }

    private static int IndexOf(ImmutableArray<PublishedResource>.Builder snapshots, string name)
    {
        for (var i = 0; i < snapshots.Count; i++)
        {
            if (snapshots[i].ResourceName == name)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Why <c>single</c> cannot advertise this set, or null when it can.</summary>
    public static NvmlMigRefusal? SingleRefusal(NvmlGpuSet set, int wholeCount)
    {
        var migCount = set.Gpus.Length - wholeCount;
        if (migCount == 0)
        {
            return null;
        }

        if (wholeCount > 0)
        {
            return new("mixed_mig_and_whole_gpus", $"{migCount} of {set.Gpus.Length} GPUs are in MIG mode; single needs all or none");
        }

        if (set.Gpus.FirstOrDefault(g => g.MigDevices.IsEmpty) is { } empty)
        {
            return new("mig_gpu_without_devices", $"GPU {empty.Uuid} is in MIG mode without MIG devices");
        }

        var profiles = set.MigDevices.Select(m => m.Profile).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return profiles.Length > 1
            ? new("differing_profiles", $"the MIG devices have differing profiles ({string.Join(", ", profiles)}); single needs one")
            : null;
    }
}

/// <summary>Why a <c>migStrategy: single</c> resource advertises nothing: a metric label and the words for the log.</summary>
internal sealed record NvmlMigRefusal(string Reason, string Message);
