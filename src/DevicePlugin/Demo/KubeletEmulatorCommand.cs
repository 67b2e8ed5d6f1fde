using System.Runtime.InteropServices;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Demo;

/// <summary>
/// <c>device-plugin kubelet-emulator --kubelet-dir DIR [--create-dir] [--script FILE] [--output text|json]
/// [--allocate N] [--pod-resources-socket PATH]</c>: runs only the kubelet emulator and prints every event
/// (registered, list, stream-ended, resource-gone, allocation, …), runs a script of steps when given one (then exits
/// 0 when every step passed, 1 when one failed), else runs until SIGTERM/SIGINT. Exit 2 for a bad argument or script.
/// </summary>
public static class KubeletEmulatorCommand
{
    private static readonly TimeSpan GoneWait = TimeSpan.FromSeconds(2);

    public static string Usage() => $$$"""
        usage: device-plugin kubelet-emulator --kubelet-dir DIR [--create-dir] [--script FILE] [--output text|json]
                                              [--allocate N] [--pod-resources-socket PATH]

        Runs a kubelet stand-in on DIR/kubelet.sock (wiping the sockets in DIR, as a kubelet does at start) and prints
        what device plugins do: one event per line. Pair it with any plugin pointed at DIR.

          --kubelet-dir DIR            the device plugin directory; it must exist unless --create-dir is given
          --create-dir                 create DIR (mode 0750) when it does not exist
          --script FILE                run the steps in FILE (YAML), then exit: 0 when every step passed, 1 when one
                                       failed; without it the emulator runs until SIGTERM or SIGINT
          --output text|json           text lines (default) or one JSON object per line
          --allocate N                 when a resource registers, admit a pod asking for N of it and print the
                                       allocation
          --pod-resources-socket PATH  also serve the PodResources v1 API there, from the pods admitted

        Events: listening, registered, registration-refused, list, stream-ended, resource-gone (its socket was
        removed after its stream ended), allocation, pod-refused, container-restarted, pod-removed, kubelet-restarted,
        file-written, step, step-failed, script-passed.

        Script steps ({{{string.Join(", ", EmulatorScript.Kinds)}}}):

          steps:
            - wait-for-registration: example.com/gpu      # and its first list; after restart-kubelet: a new one
            - expect-devices: {resource: example.com/gpu, count: 4, healthy: 4, timeout: 10s}
            - admit-pod:
                name: trainer
                initContainers: [{name: setup, limits: {example.com/gpu: 1}}]
                containers: [{name: main, limits: {example.com/gpu: 2}}]
            - write-file: {path: config.yaml, content: "..."}   # e.g. edit a simulated source's devices
            - expect-health: {resource: example.com/gpu, device: sim-2, health: Unhealthy}
            - restart-container: {pod: trainer, container: main}
            - remove-pod: trainer
            - expect-gone: {resource: example.com/gpu}     # its stream ended and its socket went away
            - restart-kubelet: {}
            - wait: 500ms

        Exit status: 0 (script passed, or stopped by a signal), 1 (a step failed), 2 (bad argument or script).
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        return await RunAsync(args, Console.Out, Console.Error, stop.Token);
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken stop)
    {
        string? dir = null;
        string? scriptPath = null;
        string? podResources = null;
        var json = false;
        var create = false;
        var allocate = 0;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            if (arg is "--help" or "-h")
            {
                await output.WriteAsync(Usage());
                return 0;
            }

            if (arg == "--create-dir")
            {
                create = inline is null or "true";
                continue;
            }

            if (arg is not ("--kubelet-dir" or "--script" or "--output" or "--allocate" or "--pod-resources-socket"))
            {
                await error.WriteLineAsync($"device-plugin kubelet-emulator: unknown argument \"{args[i]}\" (see --help)");
                return 2;
            }

            var value = inline ?? (i + 1 < args.Length ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
            {
                await error.WriteLineAsync($"device-plugin kubelet-emulator: {arg} needs a value");
                return 2;
            }

            switch (arg)
            {
                case "--kubelet-dir":
                    dir = value;
                    break;
                case "--script":
                    scriptPath = value;
                    break;
                case "--pod-resources-socket":
                    podResources = value;
                    break;
                case "--output" when value is "text" or "json":
                    json = value == "json";
                    break;
                case "--output":
                    await error.WriteLineAsync($"device-plugin kubelet-emulator: --output is text or json, not \"{value}\"");
                    return 2;
                default:
                    if (!int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out allocate) || allocate < 1 || allocate > 1024)
                    {
                        await error.WriteLineAsync($"device-plugin kubelet-emulator: --allocate is a device count from 1 to 1024, not \"{value}\"");
                        return 2;
                    }

                    break;
            }
        }

        if (dir is null)
        {
            await error.WriteLineAsync("device-plugin kubelet-emulator: --kubelet-dir DIR is required (see --help)");
            return 2;
        }

        if (!Directory.Exists(dir) && !create)
        {
            await error.WriteLineAsync($"device-plugin kubelet-emulator: --kubelet-dir {dir} does not exist (give --create-dir to create it)");
            return 2;
        }

        IReadOnlyList<ScriptStep>? steps = null;
        if (scriptPath is not null)
        {
            try
            {
                steps = EmulatorScript.Load(scriptPath);
            }
            catch (ConfigException e)
            {
                await error.WriteLineAsync($"device-plugin kubelet-emulator: {e.Message}");
                return 2;
            }
        }

        var events = new EmulatorEventWriter(output, json);
        await using var kubelet = new EmulatedKubelet(dir) { PodResourcesSocketPath = podResources };
        var gone = Watch(kubelet, events, allocate);
        await kubelet.StartAsync(stop);
        events.Write("listening", ("socket", kubelet.SocketPath), ("podResourcesSocket", podResources));

        if (steps is null)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, stop);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        }

        return await RunScriptAsync(kubelet, steps, events, gone, stop);
    }

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

    private static async Task<int> RunScriptAsync(
        EmulatedKubelet kubelet, IReadOnlyList<ScriptStep> steps, EmulatorEventWriter events, GoneResources gone, CancellationToken stop)
    {
        // The generation each resource had when the script last saw it registered: after a restart, a new one is awaited.
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var index = 0; index < steps.Count; index++)
        {
            var step = steps[index];
            events.Write("step", ("index", index + 1), ("line", step.Line), ("step", step.Describe()));
            var problem = await RunStepAsync(kubelet, step, seen, events, gone, stop);
            if (problem is not null)
            {
                events.Write("step-failed", ("index", index + 1), ("line", step.Line), ("step", step.Describe()), ("reason", problem));
                return 1;
            }
        }

        events.Write("script-passed", ("steps", steps.Count));
        return 0;
    }

    private static async Task<string?> RunStepAsync(
        EmulatedKubelet kubelet, ScriptStep step, Dictionary<string, int> seen, EmulatorEventWriter events, GoneResources gone, CancellationToken stop)
    {
        try
        {
            switch (step.Kind)
            {
                case "wait-for-registration":
                    // Registered and advertised: the first list is what gives the kubelet devices to admit pods with.
                    var waited = System.Diagnostics.Stopwatch.StartNew();
                    var plugin = await kubelet.WaitForRegistrationAsync(step.Resource!, step.Timeout, seen.GetValueOrDefault(step.Resource!) + 1);
                    seen[step.Resource!] = plugin.Generation;
                    var left = step.Timeout - waited.Elapsed;
                    await plugin.WaitForListAsync(_ => true, left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                    return null;
                case "expect-devices":
                case "expect-health":
                    if (!kubelet.Plugins.TryGetValue(step.Resource!, out var connection))
                    {
                        return $"{step.Resource} is not registered";
                    }

                    await connection.WaitForListAsync(l => Matches(step, l), step.Timeout);
                    return null;
                case "expect-gone":
                    await gone.WaitAsync(kubelet, step.Resource!, step.Timeout, stop);
                    return null;
                case "admit-pod":
                    var admitted = await AdmitAsync(kubelet, step.Pod!, events);
                    return (admitted is null) == step.ExpectRefused ? null
                        : step.ExpectRefused ? "the pod was admitted, the script expected a refusal" : "the pod was refused (see pod-refused)";
                case "restart-container":
                    var restarted = await kubelet.RestartContainerAsync(step.PodName!, step.Container!, step.Namespace, stop);
                    events.Write("container-restarted", ("pod", $"{step.Namespace}/{step.PodName}"), ("container", step.Container),
                        ("preStartCalls", restarted.Allocations.Where(a => a.ContainerName == step.Container).Sum(a => a.PreStartCalls)));
                    return null;
                case "remove-pod":
                    if (!kubelet.RemovePod(step.PodName!, step.Namespace))
                    {
                        return $"no pod {step.Namespace}/{step.PodName} was admitted";
                    }

                    events.Write("pod-removed", ("pod", $"{step.Namespace}/{step.PodName}"));
                    return null;
                case "write-file":
                    var temp = step.Path + ".tmp";
                    await File.WriteAllTextAsync(temp, step.Content, stop);
                    File.Move(temp, step.Path!, overwrite: true);
                    events.Write("file-written", ("path", step.Path), ("bytes", (long)System.Text.Encoding.UTF8.GetByteCount(step.Content!)));
                    return null;
                case "restart-kubelet":
                    foreach (var (resource, p) in kubelet.Plugins)
                    {
                        seen[resource] = p.Generation;
                    }

                    await kubelet.RestartAsync();
                    events.Write("kubelet-restarted", ("socket", kubelet.SocketPath));
                    return null;
                case "wait":
                    await Task.Delay(step.Timeout, stop);
                    return null;
                default:
                    return $"unknown step {step.Kind}";
            }
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or KeyNotFoundException or IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
        catch (OperationCanceledException)
        {
            return "interrupted";
        }
    }

    private static bool Matches(ScriptStep step, RecordedList list) => step.Kind == "expect-health"
        ? list.Find(step.Device!)?.Health == step.Health
        : (step.Count is null || list.Devices.Count == step.Count) && (step.Healthy is null || list.HealthyCount == step.Healthy);
}
