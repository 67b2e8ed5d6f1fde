using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Demo;

/// <summary>
/// What the command prints as it happens: registrations, lists, streams that end, resources that go away, and the pods
/// it admits with <c>--allocate</c>.
/// </summary>
public static partial class KubeletEmulatorCommand
{
    private static readonly TimeSpan GoneWait = TimeSpan.FromSeconds(2);

    /// <summary>Prints what the kubelet sees, as it happens.</summary>
    private static GoneResources Watch(EmulatedKubelet kubelet, EmulatorEventWriter events, int allocate)
    {
        var gone = new GoneResources();
        var announced = new HashSet<PluginConnection>();
        void Announce(PluginConnection plugin)
        {
            lock (announced)
            {
                if (!announced.Add(plugin))
                {
                    return;
                }
            }

            events.Write("registered", ("resource", plugin.ResourceName), ("endpoint", plugin.Endpoint), ("generation", plugin.Generation),
                ("preStartRequired", plugin.Options.PreStartRequired), ("preferredAllocation", plugin.Options.GetPreferredAllocationAvailable));
        }

        kubelet.Registered += plugin =>
        {
            Announce(plugin);
            if (allocate > 0)
            {
                _ = Task.Run(() => AdmitOnRegistrationAsync(kubelet, plugin, allocate, events));
            }
        };
        kubelet.ListReceived += (plugin, list) =>
        {
            Announce(plugin);
            events.Write("list", ("resource", plugin.ResourceName), ("devices", Devices(list.Devices)));
        };
        kubelet.StreamEnded += plugin =>
        {
            var closedByKubelet = plugin.StreamEndStatus?.StatusCode == Grpc.Core.StatusCode.Cancelled;
            events.Write("stream-ended", ("resource", plugin.ResourceName), ("generation", plugin.Generation),
                ("by", closedByKubelet ? "kubelet" : "plugin"), ("status", plugin.StreamEndStatus?.StatusCode.ToString()),
                ("detail", plugin.StreamEndStatus?.Detail));
            if (!closedByKubelet)
            {
                _ = Task.Run(() => ReportGoneAsync(plugin, events, gone));
            }
        };
        return gone;
    }

    /// <summary>The connections whose resource went away (reported as resource-gone).</summary>
    private sealed class GoneResources
    {
        private readonly HashSet<PluginConnection> _gone = [];
        private readonly Api.ChangeSignal _changed = new();

        public void Add(PluginConnection plugin)
        {
            lock (_gone)
            {
                _gone.Add(plugin);
            }

            _changed.Notify();
        }

        public async Task WaitAsync(EmulatedKubelet kubelet, string resource, TimeSpan timeout, CancellationToken stop)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            cts.CancelAfter(timeout);
            while (true)
            {
                var next = _changed.Next;
                lock (_gone)
                {
                    if (kubelet.Plugins.TryGetValue(resource, out var plugin) && _gone.Contains(plugin))
                    {
                        return;
                    }
                }

                try
                {
                    await next.WaitAsync(cts.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    throw new TimeoutException($"{resource} did not go away (stream ended and socket removed) within {timeout.TotalSeconds:0.#} s");
                }
            }
        }
    }

    /// <summary>A plugin that removed its socket after its stream ended has dropped the resource.</summary>
    private static async Task ReportGoneAsync(PluginConnection plugin, EmulatorEventWriter events, GoneResources gone)
    {
        var until = DateTime.UtcNow + GoneWait;
        while (File.Exists(plugin.SocketPath))
        {
            if (DateTime.UtcNow > until)
            {
                return;
            }

            await Task.Delay(50);
        }

        events.Write("resource-gone", ("resource", plugin.ResourceName), ("endpoint", plugin.Endpoint),
            ("note", "the kubelet keeps it at 0 allocatable and drops it after 5 minutes unless it registers again"));
        gone.Add(plugin);
    }

    private static IReadOnlyList<IReadOnlyDictionary<string, string>> Devices(IEnumerable<Device> devices) =>
        devices.Select(d =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal) { ["id"] = d.ID, ["health"] = d.Health };
            if (d.Topology?.Nodes.Count > 0)
            {
                map["numa"] = string.Join(",", d.Topology.Nodes.Select(n => n.ID));
            }

            return (IReadOnlyDictionary<string, string>)map;
        }).ToArray();

    private static async Task AdmitOnRegistrationAsync(EmulatedKubelet kubelet, PluginConnection plugin, int count, EmulatorEventWriter events)
    {
        try
        {
            await plugin.WaitForListAsync(l => l.Devices.Count > 0, TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            events.Write("pod-refused", ("resource", plugin.ResourceName), ("reason", e.Message));
            return;
        }

        var name = $"allocate-{plugin.ResourceName[(plugin.ResourceName.IndexOf('/', StringComparison.Ordinal) + 1)..].ToLowerInvariant()}-{plugin.Generation}";
        await AdmitAsync(kubelet, PodSpec.WithDevices(name, plugin.ResourceName, count), events);
    }

    private static async Task<AdmittedPod?> AdmitAsync(EmulatedKubelet kubelet, PodSpec pod, EmulatorEventWriter events)
    {
        try
        {
            var admitted = await kubelet.AdmitPodAsync(pod);
            foreach (var a in admitted.Allocations)
            {
                events.Write("allocation", ("pod", $"{admitted.Namespace}/{admitted.Name}"), ("container", a.ContainerName),
                    ("init", a.IsInit), ("resource", a.ResourceName), ("devices", a.DeviceIds), ("reused", a.ReusedDeviceIds),
                    ("numaHint", a.NumaHint.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()),
                    ("preferred", a.Preferred?.Returned),
                    ("envs", a.Response.Envs.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal)),
                    ("deviceSpecs", a.Response.Devices.Select(d => $"{d.HostPath}:{d.ContainerPath}:{d.Permissions}").ToArray()),
                    ("mounts", a.Response.Mounts.Select(m => $"{m.HostPath}:{m.ContainerPath}{(m.ReadOnly ? ":ro" : "")}").ToArray()),
                    ("cdiDevices", a.Response.CdiDevices.Select(c => c.Name).ToArray()),
                    ("annotations", a.Response.Annotations.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal)),
                    ("preStartCalls", a.PreStartCalls));
            }

            return admitted;
        }
        catch (PodAdmissionException e)
        {
            events.Write("pod-refused", ("pod", $"{pod.Namespace}/{pod.Name}"), ("reason", e.Message));
            return null;
        }
    }
}
