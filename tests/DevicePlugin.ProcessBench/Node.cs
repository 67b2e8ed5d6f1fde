using System.Diagnostics;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.ProcessBench;

/// <summary>
/// One measured process and its world: a temp directory, the kubelet emulator in it (in this process) and the server
/// started against it. <see cref="StartAsync"/> returns once every resource registered, with the time that took.
/// </summary>
public sealed class Node : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _registeredAt = new(StringComparer.Ordinal);

    private Node(string directory, EmulatedKubelet kubelet)
    {
        Directory = directory;
        Kubelet = kubelet;
    }

    public string Directory { get; }

    public EmulatedKubelet Kubelet { get; }

    public ServerProcess Server { get; private set; } = null!;

    /// <summary>Milliseconds from starting the process to the last resource's registration (dial-back done).</summary>
    public double StartMilliseconds { get; private set; }

    public static async Task<Node> StartAsync(Subject subject, int resources, int devices, Func<string, string, ServerProcess>? starter = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"process-bench-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        var kubelet = new EmulatedKubelet(Path.Combine(directory, "k"));
        var node = new Node(directory, kubelet);
        var all = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        kubelet.Registered += c =>
        {
            var now = Stopwatch.GetTimestamp();
            lock (node._lock)
            {
                node._registeredAt[c.ResourceName] = now;
                if (node._registeredAt.Count == resources)
                {
                    all.TrySetResult(now);
                }
            }
        };
        await kubelet.StartAsync();
        var started = Stopwatch.GetTimestamp();
        node.Server = starter is null
            ? subject.Start(directory, kubelet.Directory, resources, devices)
            : starter(directory, kubelet.Directory);
        try
        {
            var done = await all.Task.WaitAsync(Wait);
            node.StartMilliseconds = Stopwatch.GetElapsedTime(started, done).TotalMilliseconds;
        }
        catch (TimeoutException)
        {
            var output = node.Server.OutputTail;
            await node.DisposeAsync();
            throw new InvalidOperationException($"{subject.Name} did not register {resources} resources within {Wait.TotalSeconds} s; "
                + $"refused: [{string.Join("; ", kubelet.Rejections)}]; its output ended with:\n{output}");
        }

        return node;
    }

    public PluginConnection Plugin(string resource) => Kubelet.Plugins[resource];

    public async ValueTask DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        await Kubelet.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
