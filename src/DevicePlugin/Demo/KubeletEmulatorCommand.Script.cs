using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Demo;

/// <summary>The <c>--script</c> steps run in order against the running emulator (<see cref="EmulatorScript"/>).</summary>
public static partial class KubeletEmulatorCommand
{
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
