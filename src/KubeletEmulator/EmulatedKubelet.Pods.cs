using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.KubeletEmulator;

public sealed partial class EmulatedKubelet
{
    private readonly List<AdmittedPod> _pods = [];
    private readonly SemaphoreSlim _admission = new(1, 1);
    private long _podCount;

    /// <summary>The Topology Manager policy for containers without their own <see cref="ContainerSpec.NumaAffinity"/>.</summary>
    public TopologyPolicy TopologyPolicy { get; set; } = TopologyPolicy.None;

    /// <summary>The admitted pods, oldest first. They survive kubelet and plugin restarts, as the kubelet's checkpoint keeps them.</summary>
    public IReadOnlyList<AdmittedPod> Pods
    {
        get
        {
            lock (_lock)
            {
                return _pods.ToArray();
            }
        }
    }

    /// <summary>Called after each admitted pod.</summary>
    public event Action<AdmittedPod>? PodAdmitted;

    /// <summary>
    /// Admits a pod as the kubelet's device manager does: container by container (init containers first), one
    /// resource at a time; devices of finished init containers are taken first and sent as <c>must_include</c>; with a
    /// NUMA hint the aligned devices come first; GetPreferredAllocation when the plugin offers it; one Allocate per
    /// (container, resource) with one container request; PreStartContainer when the plugin requires it. A refused
    /// pod holds nothing afterwards (a real kubelet keeps a pod whose PreStartContainer fails; here it is refused).
    /// </summary>
    /// <exception cref="PodAdmissionException">A resource is not registered, too few healthy devices are free, a
    /// Topology Manager policy refuses, or the plugin answered with an error or no container response.</exception>
    public async Task<AdmittedPod> AdmitPodAsync(PodSpec pod, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var containers = pod.InitContainers.Select(c => (Spec: c, IsInit: true))
            .Concat(pod.Containers.Select(c => (Spec: c, IsInit: false))).ToArray();
        var duplicate = containers.GroupBy(c => c.Spec.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new PodAdmissionException($"pod {pod.Namespace}/{pod.Name} has two containers named {duplicate.Key}");
        }

        if (containers.SelectMany(c => c.Spec.Limits).FirstOrDefault(l => l.Value < 0) is { Key: not null } negative)
        {
            throw new PodAdmissionException($"pod {pod.Namespace}/{pod.Name} requests {negative.Value} of {negative.Key}");
        }

        await _admission.WaitAsync(cancellationToken);
        try
        {
            lock (_lock)
            {
                if (_pods.Any(p => p.Name == pod.Name && p.Namespace == pod.Namespace))
                {
                    throw new PodAdmissionException($"pod {pod.Namespace}/{pod.Name} is already admitted");
                }
            }

            var allocations = new List<ContainerAllocation>();
            var reusable = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var (container, isInit) in containers)
            {
                foreach (var (resource, count) in container.Limits.Where(l => l.Value > 0).OrderBy(l => l.Key, StringComparer.Ordinal))
                {
                    var reuse = reusable.GetValueOrDefault(resource) ?? [];
                    var allocation = await AllocateContainerAsync(pod, container, isInit, resource, count, reuse, allocations, cancellationToken);
                    allocations.Add(allocation);
                    if (isInit && !container.Restartable)
                    {
                        reusable[resource] = reuse.Union(allocation.DeviceIds).ToList();
                    }
                    else
                    {
                        reuse.RemoveAll(allocation.DeviceIds.Contains);
                    }
                }
            }

            for (var i = 0; i < allocations.Count; i++)
            {
                allocations[i] = await PreStartAsync(pod, allocations[i], cancellationToken);
            }

            var admitted = new AdmittedPod(pod.Name, pod.Namespace, $"emulated-pod-{Interlocked.Increment(ref _podCount)}", pod, allocations);
            lock (_lock)
            {
                _pods.Add(admitted);
            }

            _changed.Notify();
            PodAdmitted?.Invoke(admitted);
            return admitted;
        }
        finally
        {
            _admission.Release();
        }
    }

    /// <summary>Removes a pod (it finished or was deleted): its devices are free again and PodResources stops listing it.</summary>
    /// <returns>False when no such pod was admitted.</returns>
    public bool RemovePod(string name, string @namespace = "default")
    {
        bool removed;
        lock (_lock)
        {
            removed = _pods.RemoveAll(p => p.Name == name && p.Namespace == @namespace) > 0;
        }

        _changed.Notify();
        return removed;
    }

    /// <summary>
    /// A container restart: the kubelet sends no Allocate again, but calls PreStartContainer (when the plugin
    /// requires it) with the container's devices of each resource. Returns the pod with the counts updated.
    /// </summary>
    public async Task<AdmittedPod> RestartContainerAsync(string podName, string containerName, string @namespace = "default", CancellationToken cancellationToken = default)
    {
        await _admission.WaitAsync(cancellationToken);
        try
        {
            AdmittedPod pod;
            lock (_lock)
            {
                pod = _pods.FirstOrDefault(p => p.Name == podName && p.Namespace == @namespace)
                    ?? throw new KeyNotFoundException($"pod {@namespace}/{podName} is not admitted");
            }

            if (!pod.Spec.InitContainers.Concat(pod.Spec.Containers).Any(c => c.Name == containerName))
            {
                throw new KeyNotFoundException($"pod {@namespace}/{podName} has no container {containerName}");
            }

            var allocations = pod.Allocations.ToArray();
            for (var i = 0; i < allocations.Length; i++)
            {
                if (allocations[i].ContainerName == containerName)
                {
                    allocations[i] = await PreStartAsync(pod.Spec, allocations[i], cancellationToken);
                }
            }

            var updated = pod with { Allocations = allocations };
            lock (_lock)
            {
                var index = _pods.IndexOf(pod);
                if (index >= 0)
                {
                    _pods[index] = updated;
                }
            }

            return updated;
        }
        finally
        {
            _admission.Release();
        }
    }

    private async Task<ContainerAllocation> AllocateContainerAsync(
        PodSpec pod, ContainerSpec container, bool isInit, string resource, int count, IReadOnlyCollection<string> reusable,
        IReadOnlyList<ContainerAllocation> earlier, CancellationToken cancellationToken)
    {
        var where = $"pod {pod.Namespace}/{pod.Name} container {container.Name}";
        PluginConnection? plugin;
        HashSet<string> inUse;
        lock (_lock)
        {
            _plugins.TryGetValue(resource, out plugin);
            inUse = _pods.SelectMany(p => p.Allocations).Concat(earlier)
                .Where(a => a.ResourceName == resource).SelectMany(a => a.DeviceIds).ToHashSet(StringComparer.Ordinal);
        }

        if (plugin is null)
        {
            throw new PodAdmissionException($"{where}: resource {resource} is not registered with the kubelet");
        }

        DeviceManager.Choice choice;
        try
        {
            choice = await DeviceManager.ChooseAsync(plugin, count, reusable, inUse, container.NumaAffinity, TopologyPolicy, cancellationToken);
        }
        catch (PodAdmissionException e)
        {
            throw new PodAdmissionException($"{where}: {e.Message}", e);
        }

        var request = new AllocateRequest();
        var containerRequest = new ContainerAllocateRequest();
        containerRequest.DevicesIds.Add(choice.DeviceIds);
        request.ContainerRequests.Add(containerRequest);
        AllocateResponse response;
        try
        {
            response = await plugin.AllocateAsync(request, cancellationToken);
        }
        catch (RpcException e)
        {
            throw new PodAdmissionException($"{where}: Allocate of {resource} [{string.Join(", ", choice.DeviceIds)}] failed: {e.StatusCode}: {e.Status.Detail}", e);
        }

        if (response.ContainerResponses.Count == 0)
        {
            throw new PodAdmissionException($"{where}: Allocate of {resource} returned no container response");
        }

        var topology = plugin.LatestList?.Devices ?? [];
        var nodes = choice.DeviceIds.ToDictionary(
            id => id,
            id => (IReadOnlyList<long>)(topology.FirstOrDefault(d => d.ID == id)?.Topology?.Nodes.Select(n => n.ID).ToArray() ?? []),
            StringComparer.Ordinal);
        return new ContainerAllocation(container.Name, isInit, container.Restartable, resource, choice.DeviceIds, choice.Reused,
            choice.Hint, choice.Preferred, response.ContainerResponses[0], 0, nodes);
    }

    private async Task<ContainerAllocation> PreStartAsync(PodSpec pod, ContainerAllocation allocation, CancellationToken cancellationToken)
    {
        PluginConnection? plugin;
        lock (_lock)
        {
            _plugins.TryGetValue(allocation.ResourceName, out plugin);
        }

        if (plugin is null || !plugin.Options.PreStartRequired)
        {
            return allocation;
        }

        try
        {
            await plugin.PreStartContainerAsync(allocation.DeviceIds, cancellationToken);
        }
        catch (RpcException e)
        {
            throw new PodAdmissionException($"pod {pod.Namespace}/{pod.Name} container {allocation.ContainerName}: PreStartContainer of "
                + $"{allocation.ResourceName} failed: {e.StatusCode}: {e.Status.Detail}", e);
        }

        return allocation with { PreStartCalls = allocation.PreStartCalls + 1 };
    }
}
