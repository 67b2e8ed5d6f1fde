using System.Threading.RateLimiting;
using DevicePlugin.Api.PodResources.V1;
using Grpc.Core;

namespace DevicePlugin.KubeletEmulator;

/// <summary>
/// PodResources v1 as the kubelet serves it, from the emulator's admitted pods and registered plugins: List (restartable
/// init containers before app containers; other init containers are not listed), GetAllocatableResources (every healthy
/// device of every registered resource: capacity, not what is free), Get (an unknown pod is an error). One entry per
/// device and NUMA node, as the kubelet reports them; the kubelet's rate limit (100 per second, burst 10) applies.
/// </summary>
internal sealed class PodResourcesService(EmulatedKubelet kubelet, RateLimiter limiter) : PodResourcesLister.PodResourcesListerBase
{
    public override Task<ListPodResourcesResponse> List(ListPodResourcesRequest request, ServerCallContext context)
    {
        Limit();
        var response = new ListPodResourcesResponse();
        response.PodResources.Add(kubelet.Pods.Select(ToPodResources));
        return Task.FromResult(response);
    }

    public override Task<GetPodResourcesResponse> Get(GetPodResourcesRequest request, ServerCallContext context)
    {
        Limit();
        var pod = kubelet.Pods.FirstOrDefault(p => p.Name == request.PodName && p.Namespace == request.PodNamespace)
            ?? throw new RpcException(new Status(StatusCode.Unknown, $"pod {request.PodName} not found in {request.PodNamespace}"));
        return Task.FromResult(new GetPodResourcesResponse { PodResources = ToPodResources(pod) });
    }

    public override Task<AllocatableResourcesResponse> GetAllocatableResources(AllocatableResourcesRequest request, ServerCallContext context)
    {
        Limit();
        var response = new AllocatableResourcesResponse();
        foreach (var plugin in kubelet.Plugins.Values.OrderBy(p => p.ResourceName, StringComparer.Ordinal))
        {
            if (plugin.StreamEnded || plugin.LatestList is not { } list)
            {
                continue;
            }

            foreach (var device in list.Devices.Where(d => d.Health == "Healthy"))
            {
                response.Devices.Add(Entries(plugin.ResourceName, device.ID, device.Topology?.Nodes.Select(n => n.ID).ToArray() ?? []));
            }
        }

        return Task.FromResult(response);
    }

    private void Limit()
    {
        using var lease = limiter.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "rejected by rate limit"));
        }
    }

    private static PodResources ToPodResources(AdmittedPod pod)
    {
        var result = new PodResources { Name = pod.Name, Namespace = pod.Namespace };
        var listed = pod.Spec.InitContainers.Where(c => c.Restartable).Concat(pod.Spec.Containers);
        foreach (var container in listed)
        {
            var resources = new ContainerResources { Name = container.Name };
            foreach (var allocation in pod.Allocations.Where(a => a.ContainerName == container.Name))
            {
                foreach (var id in allocation.DeviceIds)
                {
                    resources.Devices.Add(Entries(allocation.ResourceName, id, allocation.DeviceNumaNodes.GetValueOrDefault(id) ?? []));
                }
            }

            result.Containers.Add(resources);
        }

        return result;
    }

    /// <summary>The kubelet reports a device once per NUMA node it sits on, or once without topology.</summary>
    private static IEnumerable<ContainerDevices> Entries(string resource, string id, IReadOnlyList<long> nodes)
    {
        if (nodes.Count == 0)
        {
            yield return new ContainerDevices { ResourceName = resource, DeviceIds = { id } };
            yield break;
        }

        foreach (var node in nodes)
        {
            yield return new ContainerDevices
            {
                ResourceName = resource,
                DeviceIds = { id },
                Topology = new TopologyInfo { Nodes = { new NUMANode { ID = node } } },
            };
        }
    }
}
