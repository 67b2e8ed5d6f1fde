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
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--kubelet-dir" && i + 1 < args.Length)
            {
                dir = args[++i];
            }
            else if (args[i].StartsWith("--kubelet-dir=", StringComparison.Ordinal))
            {
                dir = args[i]["--kubelet-dir=".Length..];
            }
            else
            {
                await Console.Error.WriteLineAsync($"device-plugin kubelet-emulator: unknown argument \"{args[i]}\" (usage: --kubelet-dir DIR)");
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
        };
        await kubelet.StartAsync();
        Console.Out.WriteLine($"kubelet emulator listening on {kubelet.SocketPath}");
        await stop.Task;
        return 0;
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
