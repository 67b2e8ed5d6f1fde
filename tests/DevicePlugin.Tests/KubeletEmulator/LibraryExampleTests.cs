using DevicePlugin.Api;
using DevicePlugin.Api.PodResources.V1;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;

namespace DevicePlugin.Tests.KubeletEmulator;

/// <summary>
/// The library example of docs/kubelet-emulator.md, compiled and run as a test; <see cref="The_document_shows_this_example"/>
/// keeps the document's copy identical to the code between the example markers.
/// </summary>
public sealed class LibraryExampleTests
{
    // <example>
    [Fact]
    public async Task A_plugin_serves_pods_as_a_kubelet_would_see_it()
    {
        var root = Directory.CreateTempSubdirectory("kubelet-");
        var pluginDir = Path.Combine(root.FullName, "device-plugins");
        await using var kubelet = new EmulatedKubelet(pluginDir)
        {
            PodResourcesSocketPath = EmulatedKubelet.DefaultPodResourcesSocketPath(pluginDir),
        };
        await kubelet.StartAsync();
        await using var plugin = await StartPluginAsync(pluginDir); // the plugin under test, pointed at pluginDir

        // Registration, then the device list the kubelet received.
        var connection = await kubelet.WaitForRegistrationAsync("example.com/gpu", TimeSpan.FromSeconds(10));
        await connection.WaitForListAsync(l => l.HealthyCount == 4, TimeSpan.FromSeconds(10));

        // A pod whose init container's device is reused by the app container (sent as must_include).
        var trainer = await kubelet.AdmitPodAsync(new PodSpec("trainer")
        {
            InitContainers = { new ContainerSpec("setup") { Limits = { ["example.com/gpu"] = 1 } } },
            Containers = { new ContainerSpec("main") { Limits = { ["example.com/gpu"] = 2 } } },
        });
        var main = trainer.Allocation("main", "example.com/gpu");
        Assert.Equal(trainer.DevicesOf("setup", "example.com/gpu"), main.ReusedDeviceIds);
        Assert.Equal(main.ReusedDeviceIds, main.Preferred!.MustInclude);
        Assert.Equal(string.Join(",", main.DeviceIds), main.Response.Envs["SIMULATED_DEVICES"]);

        // With the Topology Manager's best-effort policy, the next pod gets one NUMA node's devices.
        kubelet.TopologyPolicy = TopologyPolicy.BestEffort;
        var pair = await kubelet.AdmitPodAsync(PodSpec.WithDevices("pair", "example.com/gpu", 2));
        Assert.Single(pair.Allocation("main", "example.com/gpu").NumaHint);

        // PodResources v1 reports the device IDs as allocated.
        using var channel = UnixSocketChannel.Create(kubelet.PodResourcesSocketPath!);
        var podResources = new PodResourcesLister.PodResourcesListerClient(channel);
        var listed = await podResources.GetAsync(new GetPodResourcesRequest { PodName = "trainer", PodNamespace = "default" });
        Assert.Equal(main.DeviceIds.Order(), listed.PodResources.Containers.Single().Devices.SelectMany(d => d.DeviceIds).Order());

        // A kubelet restart wipes the plugin's socket: the plugin registers again; the pods keep their devices.
        await kubelet.RestartAsync();
        await kubelet.WaitForRegistrationAsync("example.com/gpu", TimeSpan.FromSeconds(10), minGeneration: 2);
        Assert.True(connection.StreamEnded);
        Assert.Equal(["trainer", "pair"], kubelet.Pods.Select(p => p.Name));
        root.Delete(recursive: true);
    }
    // </example>

    /// <summary>This project's daemon with four simulated devices on two NUMA nodes.</summary>
    private static async Task<IAsyncDisposable> StartPluginAsync(string pluginDir)
    {
        var config = Path.Combine(Path.GetDirectoryName(pluginDir)!, "config.yaml");
        await File.WriteAllTextAsync(config, """
            resources:
              - name: example.com/gpu
                source: simulated
                devices:
                  - { id: sim-0, numa: 0 }
                  - { id: sim-1, numa: 0 }
                  - { id: sim-2, numa: 1 }
                  - { id: sim-3, numa: 1 }
            """);
        var daemon = new Daemon(new DaemonOptions { KubeletDirectory = pluginDir, ConfigPath = config, MetricsAddress = "" }, DeviceSources.Schemas.LoadFile(config),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await daemon.StartAsync();
        return daemon;
    }

    [Fact]
    public void The_document_shows_this_example()
    {
        static string Normalise(IEnumerable<string> lines)
        {
            var kept = lines.ToArray();
            var indent = kept.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
            return string.Join("\n", kept.Select(l => l.Length >= indent ? l[indent..] : l.Trim()));
        }

        var repo = FindRepositoryRoot();
        var source = File.ReadAllLines(Path.Combine(repo, "tests", "DevicePlugin.Tests", "KubeletEmulator", "LibraryExampleTests.cs"));
        var start = Array.FindIndex(source, l => l.Trim() == "// <example>");
        var end = Array.FindIndex(source, l => l.Trim() == "// </example>");
        var doc = File.ReadAllLines(Path.Combine(repo, "docs", "kubelet-emulator.md"));
        var open = Array.FindIndex(doc, l => l.Trim() == "<!-- example: tests/DevicePlugin.Tests/KubeletEmulator/LibraryExampleTests.cs -->") + 2;
        var close = Array.FindIndex(doc, open, l => l.Trim() == "```");
        Assert.True(start > 0 && end > start && open > 1 && close > open, "markers found in the test and the document");
        Assert.Equal(Normalise(source[(start + 1)..end]), Normalise(doc[open..close]));
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DevicePlugin.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new DirectoryNotFoundException("DevicePlugin.sln not found above " + AppContext.BaseDirectory);
    }
}
