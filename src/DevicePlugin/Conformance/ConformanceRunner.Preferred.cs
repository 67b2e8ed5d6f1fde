using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using Grpc.Core;

namespace DevicePlugin.Conformance;

/// <summary>The GetPreferredAllocation checks: sizes, subsets, must_include, uniqueness, several containers.</summary>
public sealed partial class ConformanceRunner
{
    private static async Task CheckPreferredAsync(
        PluginConnection plugin, string[] healthy, Action<string, string?> result, Action<string, string> skip, CancellationToken cancellationToken)
    {
        string[] checks = [Checks.PreferredResponses, Checks.PreferredSize, Checks.PreferredSubset, Checks.PreferredMustInclude, Checks.PreferredUnique];
        if (!plugin.Options.GetPreferredAllocationAvailable || healthy.Length == 0)
        {
            var reason = healthy.Length == 0 ? "no healthy device" : "the plugin does not offer GetPreferredAllocation";
            foreach (var check in checks)
            {
                skip(check, reason);
            }

            return;
        }

        var n = healthy.Length;
        List<ContainerPreferredAllocationRequest[]> requests =
        [
            [Container(healthy, [], 1)],
            [Container(healthy, [], n)],
        ];
        if (n >= 2)
        {
            requests.Add([Container(healthy, [healthy[^1]], 2)]);
            requests.Add([Container(healthy, [], 1), Container(healthy, [healthy[0]], Math.Min(3, n))]);
        }

        var problems = checks.ToDictionary(c => c, _ => (string?)null);
        void Note(string check, string problem) => problems[check] ??= problem;
        var answered = 0;
        foreach (var containers in requests)
        {
            var request = new PreferredAllocationRequest();
            request.ContainerRequests.Add(containers);
            var asked = Describe(containers);
            PreferredAllocationResponse response;
            try
            {
                response = await plugin.GetPreferredAllocationAsync(request, cancellationToken);
            }
            catch (RpcException e)
            {
                Note(Checks.PreferredResponses, $"GetPreferredAllocation {asked} failed: {e.StatusCode}: {e.Status.Detail}");
                continue;
            }

            answered++;
            if (response.ContainerResponses.Count != containers.Length)
            {
                Note(Checks.PreferredResponses, $"GetPreferredAllocation {asked}: {response.ContainerResponses.Count} container responses for {containers.Length} container requests");
            }

            for (var i = 0; i < Math.Min(containers.Length, response.ContainerResponses.Count); i++)
            {
                var want = containers[i];
                var got = response.ContainerResponses[i].DeviceIDs;
                var shown = $"GetPreferredAllocation {Describe([want])} answered [{string.Join(", ", got)}]";
                if (got.Count != want.AllocationSize)
                {
                    Note(Checks.PreferredSize, $"{shown}: {got.Count} IDs, not {want.AllocationSize}");
                }

                if (got.FirstOrDefault(id => !want.AvailableDeviceIDs.Contains(id)) is { } outside)
                {
                    Note(Checks.PreferredSubset, $"{shown}: {outside} is not among the available IDs");
                }

                if (want.MustIncludeDeviceIDs.FirstOrDefault(id => !got.Contains(id)) is { } dropped)
                {
                    Note(Checks.PreferredMustInclude, $"{shown}: must_include {dropped} is missing");
                }

                if (got.GroupBy(id => id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
                {
                    Note(Checks.PreferredUnique, $"{shown}: {twice.Key} appears {twice.Count()} times");
                }
            }
        }

        foreach (var check in checks)
        {
            if (answered == 0 && check != Checks.PreferredResponses)
            {
                skip(check, "GetPreferredAllocation never answered");
            }
            else
            {
                result(check, problems[check]);
            }
        }
    }

    private static ContainerPreferredAllocationRequest Container(string[] available, string[] mustInclude, int size)
    {
        var container = new ContainerPreferredAllocationRequest { AllocationSize = size };
        container.AvailableDeviceIDs.Add(available);
        container.MustIncludeDeviceIDs.Add(mustInclude);
        return container;
    }

    private static string Describe(IEnumerable<ContainerPreferredAllocationRequest> containers) =>
        string.Join(" + ", containers.Select(c =>
            $"(size {c.AllocationSize} of {c.AvailableDeviceIDs.Count}" + (c.MustIncludeDeviceIDs.Count > 0 ? $", must_include [{string.Join(", ", c.MustIncludeDeviceIDs)}])" : ")")));
}
