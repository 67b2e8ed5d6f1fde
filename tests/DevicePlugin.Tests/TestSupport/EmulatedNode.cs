using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// Where a test of the real executable starts: a temporary directory, an emulated kubelet serving its kubelet
/// directory (<c>k</c>) and a config file (<c>c.yaml</c>) with one simulated resource (<see cref="Configs.Simulated"/>).
/// The kubelet is stopped, then the directory deleted, on dispose.
/// </summary>
public sealed class EmulatedNode : IAsyncDisposable
{
    private EmulatedNode(TempDirectory dir)
    {
        Dir = dir;
        KubeletDir = dir.Combine("k");
        ConfigPath = dir.Combine("c.yaml");
        Kubelet = new EmulatedKubelet(KubeletDir);
    }

    public TempDirectory Dir { get; }

    public string KubeletDir { get; }

    public string ConfigPath { get; }

    public EmulatedKubelet Kubelet { get; }

    public static async Task<EmulatedNode> StartAsync()
    {
        var node = new EmulatedNode(new TempDirectory());
        try
        {
            await node.Kubelet.StartAsync();
            await File.WriteAllTextAsync(node.ConfigPath, Configs.Simulated());
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Kubelet.DisposeAsync();
        Dir.Dispose();
    }
}
