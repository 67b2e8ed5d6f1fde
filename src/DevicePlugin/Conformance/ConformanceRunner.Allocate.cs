using System.Text.RegularExpressions;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using Grpc.Core;

namespace DevicePlugin.Conformance;

/// <summary>
/// The Allocate checks: one response per container, device specs and mounts that exist on the host, valid env names
/// and CDI names, refusals of unknown IDs and empty requests.
/// </summary>
public sealed partial class ConformanceRunner
{
    private async Task CheckAllocateAsync(
        PluginConnection plugin, string[] healthy, Action<string, string?> result, Action<string, string> skip, CancellationToken cancellationToken)
    {
        var responses = new List<(string Asked, ContainerAllocateResponse Response)>();
        async Task<string?> AllocateAsync(string[][] containers)
        {
            var request = new AllocateRequest();
            foreach (var ids in containers)
            {
                var container = new ContainerAllocateRequest();
                container.DevicesIds.Add(ids);
                request.ContainerRequests.Add(container);
            }

            var asked = "Allocate " + string.Join(" + ", containers.Select(ids => $"[{string.Join(", ", ids)}]"));
            try
            {
                var response = await plugin.AllocateAsync(request, cancellationToken);
                for (var i = 0; i < Math.Min(containers.Length, response.ContainerResponses.Count); i++)
                {
                    responses.Add(($"{asked} (container {i})", response.ContainerResponses[i]));
                }

                return response.ContainerResponses.Count == containers.Length ? null
                    : $"{asked}: {response.ContainerResponses.Count} container responses for {containers.Length} container requests";
            }
            catch (RpcException e)
            {
                return $"{asked} failed: {e.StatusCode}: {e.Status.Detail}";
            }
        }

        if (healthy.Length == 0)
        {
            foreach (var check in new[] { Checks.AllocateEach, Checks.AllocateSeveral, Checks.DeviceSpecs, Checks.Mounts, Checks.Envs, Checks.CdiNames })
            {
                skip(check, "no healthy device");
            }
        }
        else
        {
            string? eachProblem = null;
            foreach (var id in healthy.Take(MaxDevicesAllocatedAlone))
            {
                eachProblem ??= await AllocateAsync([[id]]);
            }

            result(Checks.AllocateEach, eachProblem);
            if (healthy.Length < 2)
            {
                skip(Checks.AllocateSeveral, "fewer than two healthy devices");
            }
            else
            {
                result(Checks.AllocateSeveral, await AllocateAsync([healthy.Take(4).ToArray()]) ?? await AllocateAsync([[healthy[0]], [healthy[1]]]));
            }

            result(Checks.DeviceSpecs, responses.SelectMany(r => r.Response.Devices.Select(d => DeviceSpecProblem(r.Asked, d))).FirstOrDefault(p => p is not null));
            result(Checks.Mounts, responses.SelectMany(r => r.Response.Mounts.Select(m => MountProblem(r.Asked, m))).FirstOrDefault(p => p is not null));
            result(Checks.Envs, responses.SelectMany(r => r.Response.Envs.Keys.Where(k => !EnvName().IsMatch(k))
                .Select(k => $"{r.Asked}: environment name \"{k}\" is not valid")).FirstOrDefault());
            result(Checks.CdiNames, responses.SelectMany(r => r.Response.CdiDevices.Select(c => CdiProblem(r.Asked, c.Name))).FirstOrDefault(p => p is not null));
        }

        result(Checks.UnknownId, await ErrorExpectedAsync(plugin, [UnknownDeviceId], $"Allocate [{UnknownDeviceId}]", cancellationToken));
        result(Checks.EmptyRequest, await ErrorExpectedAsync(plugin, [], "Allocate of a container request without IDs", cancellationToken));
    }

    private static async Task<string?> ErrorExpectedAsync(PluginConnection plugin, string[] ids, string what, CancellationToken cancellationToken)
    {
        var request = new AllocateRequest();
        var container = new ContainerAllocateRequest();
        container.DevicesIds.Add(ids);
        request.ContainerRequests.Add(container);
        string? problem = null;
        try
        {
            await plugin.AllocateAsync(request, cancellationToken);
            problem = $"{what} answered OK; it must be an error status";
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal)
        {
            problem = $"{what} answered {e.StatusCode} ({e.Status.Detail}): the plugin failed instead of refusing the request";
        }
        catch (RpcException)
        {
        }

        return problem ?? await RpcProblemAsync(() => plugin.GetDevicePluginOptionsAsync(cancellationToken), $"after {what}, GetDevicePluginOptions");
    }

    private string? DeviceSpecProblem(string asked, DeviceSpec spec)
    {
        if (!Path.IsPathRooted(spec.ContainerPath) || !Path.IsPathRooted(spec.HostPath))
        {
            return $"{asked}: device spec {spec.HostPath} -> {spec.ContainerPath}: both paths must be absolute";
        }

        if (spec.Permissions.Length == 0 || spec.Permissions.Any(c => c is not ('r' or 'w' or 'm')) || spec.Permissions.Distinct().Count() != spec.Permissions.Length)
        {
            return $"{asked}: device spec {spec.HostPath} has permissions \"{spec.Permissions}\" (letters of r, w, m, each once)";
        }

        return HostPathExists(spec.HostPath) ? null : $"{asked}: device spec host path {spec.HostPath} does not exist" + HostRootNote();
    }

    private string? MountProblem(string asked, Mount mount)
    {
        if (!Path.IsPathRooted(mount.ContainerPath) || !Path.IsPathRooted(mount.HostPath))
        {
            return $"{asked}: mount {mount.HostPath} -> {mount.ContainerPath}: both paths must be absolute";
        }

        return HostPathExists(mount.HostPath) ? null : $"{asked}: mount host path {mount.HostPath} does not exist" + HostRootNote();
    }

    private bool HostPathExists(string hostPath)
    {
        var path = Path.Join(options.HostRoot, hostPath);
        return File.Exists(path) || Directory.Exists(path);
    }

    private string HostRootNote() => options.HostRoot is "/" or "" ? "" : $" under {options.HostRoot}";

    private static string? CdiProblem(string asked, string name)
    {
        var equals = name.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            return $"{asked}: CDI device \"{name}\" is not of the form vendor/class=name";
        }

        if (Inventory.CdiNames.KindProblem(name[..equals]) is { } kind)
        {
            return $"{asked}: {kind}";
        }

        return Inventory.CdiNames.IsValidDeviceName(name[(equals + 1)..]) ? null
            : $"{asked}: CDI device \"{name}\": the name part must start and end with a letter or digit and hold only letters, digits, '_', '-', '.', ':'";
    }

    [GeneratedRegex("^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();
}
