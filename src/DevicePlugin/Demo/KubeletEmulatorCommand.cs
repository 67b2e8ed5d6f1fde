using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Demo;

/// <summary>
/// <c>device-plugin kubelet-emulator --kubelet-dir DIR [--create-dir] [--script FILE] [--output text|json]
/// [--allocate N] [--pod-resources-socket PATH]</c>: runs only the kubelet emulator and prints every event
/// (registered, list, stream-ended, resource-gone, allocation, …), runs a script of steps when given one (then exits
/// 0 when every step passed, 1 when one failed), else runs until SIGTERM/SIGINT. Exit 2 for a bad argument or script.
/// This file reads the arguments and starts the emulator; the events it prints and the script steps have a file each.
/// </summary>
public static partial class KubeletEmulatorCommand
{
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

    public static Task<int> RunAsync(string[] args) =>
        SubcommandArguments.RunUntilSignalAsync(stop => RunAsync(args, Console.Out, Console.Error, stop));

    private static readonly string[] ValueFlags = ["--kubelet-dir", "--script", "--output", "--allocate", "--pod-resources-socket"];
    private static readonly string[] BoolFlags = ["--create-dir"];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken stop)
    {
        string? dir = null;
        string? scriptPath = null;
        string? podResources = null;
        var json = false;
        var create = false;
        var allocate = 0;
        foreach (var (flag, value, problem) in SubcommandArguments.Read(args, ValueFlags, BoolFlags))
        {
            if (problem is not null)
            {
                await error.WriteLineAsync($"device-plugin kubelet-emulator: {problem}");
                return 2;
            }

            switch (flag)
            {
                case "--help":
                    await output.WriteAsync(Usage());
                    return 0;
                case "--create-dir":
                    create = value is null or "true";
                    break;
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
}
