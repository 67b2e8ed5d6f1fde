using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Demo;

/// <summary>
/// <c>device-plugin kubelet-emulator --kubelet-dir DIR</c>: runs only the kubelet emulator and prints every
/// registration and every device list it receives, until SIGTERM/SIGINT. For trying a plugin (this one or another)
/// without a cluster.
/// </summary>
public static class KubeletEmulatorCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? dir = null;
        var allocate = 0;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--kubelet-dir" && i + 1 < args.Length)
            {
                dir = args[++i];
            }
            else if (args[i] == "--allocate" && i + 1 < args.Length && int.TryParse(args[i + 1], out allocate) && allocate >= 0)
            {
                i++;
            }
            else if (args[i].StartsWith("--kubelet-dir=", StringComparison.Ordinal))
            {
                dir = args[i]["--kubelet-dir=".Length..];
            }
            else
            {
                await Console.Error.WriteLineAsync($"device-plugin kubelet-emulator: unknown argument \"{args[i]}\" (usage: --kubelet-dir DIR [--allocate N])");
                return 2;
            }
        }

        if (dir is null)
        {
            await Console.Error.WriteLineAsync("device-plugin kubelet-emulator: --kubelet-dir DIR is required");
            return 2;
        }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.TrySetResult();
        };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.TrySetResult();
            });

        await using var kubelet = new EmulatedKubelet(dir);
        kubelet.Registered += plugin =>
        {
            Console.Out.WriteLine($"registered {plugin.ResourceName} endpoint={plugin.Endpoint} preStartRequired={plugin.Options.PreStartRequired} "
                + $"preferredAllocation={plugin.Options.GetPreferredAllocationAvailable}");
            _ = Task.Run(() => PrintListsAsync(plugin, stop.Task));
            if (allocate > 0)
            {
                _ = Task.Run(() => AllocateAsync(plugin, allocate));
            }
        };
        await kubelet.StartAsync();
        Console.Out.WriteLine($"kubelet emulator listening on {kubelet.SocketPath}");
        await stop.Task;
        return 0;
    }

    /// <summary>Admits a pod as the kubelet would: a preferred allocation of <paramref name="count"/> healthy IDs, then Allocate.</summary>
    private static async Task AllocateAsync(PluginConnection plugin, int count)
    {
        try
        {
            var list = await plugin.WaitForListAsync(l => l.Devices.Count > 0, TimeSpan.FromSeconds(10));
            var healthy = list.Devices.Where(d => d.Health == "Healthy").Select(d => d.ID).ToArray();
            var preferred = await plugin.GetPreferredAllocationAsync(healthy, [], count);
            Console.Out.WriteLine($"preferred {plugin.ResourceName} {count}: {string.Join(",", preferred)}");
            var response = await plugin.AllocateAsync([.. preferred]);
            var c = response.ContainerResponses[0];
            Console.Out.WriteLine($"allocate {plugin.ResourceName}: env {string.Join(" ", c.Envs.Select(e => $"{e.Key}={e.Value}"))}"
                + $" devices {string.Join(" ", c.Devices.Select(d => $"{d.HostPath}:{d.Permissions}"))}"
                + $" cdi {string.Join(" ", c.CdiDevices.Select(d => d.Name))}");
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or TimeoutException or InvalidOperationException)
        {
            Console.Out.WriteLine($"allocate {plugin.ResourceName} failed: {e.Message}");
        }
    }

    private static async Task PrintListsAsync(PluginConnection plugin, Task stopped)
    {
        var printed = 0;
        while (!stopped.IsCompleted && !plugin.StreamEnded)
        {
            try
            {
                await plugin.WaitForListAsync(_ => plugin.Lists.Count > printed, TimeSpan.FromSeconds(1));
            }
            catch (TimeoutException)
            {
                continue;
            }
            catch (InvalidOperationException)
            {
                break;
            }

            foreach (var list in plugin.Lists.Skip(printed))
            {
                Console.Out.WriteLine($"list {plugin.ResourceName} at {list.ReceivedAt:HH:mm:ss.fff}: "
                    + string.Join(" ", list.Devices.Select(d => $"{d.ID}={d.Health}" + (d.Topology?.Nodes.Count > 0 ? $"@numa{d.Topology.Nodes[0].ID}" : ""))));
                printed++;
            }
        }
    }
}
