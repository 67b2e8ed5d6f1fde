using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Demo;

/// <summary>
/// <c>device-plugin demo</c>: the daemon with a bundled simulated node (four devices on two NUMA nodes) against the
/// built-in kubelet emulator in a temporary directory, narrated in plain words. Needs no hardware and no root.
/// </summary>
public static class DemoCommand
{
    public const string ResourceName = "example.com/sim-gpu";

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public static string Config(string sim2Health) => $"""
        # The demo's simulated node: two NUMA nodes with two devices each.
        resources:
          - name: {ResourceName}
            source: simulated
            devices:
              - {"{"} id: sim-0, numa: 0 {"}"}
              - {"{"} id: sim-1, numa: 0 {"}"}
              - {"{"} id: sim-2, numa: 1, health: {sim2Health} {"}"}
              - {"{"} id: sim-3, numa: 1 {"}"}
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var verbose = args.Contains("--verbose");
        var unknown = args.FirstOrDefault(a => a != "--verbose");
        if (unknown is not null)
        {
            await Console.Error.WriteLineAsync($"device-plugin demo: unknown argument \"{unknown}\" (only --verbose)");
            return 2;
        }

        var root = Directory.CreateTempSubdirectory("device-plugin-demo-");
        try
        {
            return await RunInAsync(root.FullName, Console.Out, verbose);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    public static async Task<int> RunInAsync(string root, TextWriter output, bool verbose)
    {
        var kubeletDir = Path.Combine(root, "device-plugins");
        var configPath = Path.Combine(root, "config.yaml");
        await File.WriteAllTextAsync(configPath, Config("Healthy"));

        using var loggers = Logging.Create(LogFormat.Text, verbose ? LogLevel.Information : LogLevel.Warning);
        await using var kubelet = new EmulatedKubelet(kubeletDir, loggers)
        {
            PodResourcesSocketPath = EmulatedKubelet.DefaultPodResourcesSocketPath(kubeletDir),
        };
        await kubelet.StartAsync();
        output.WriteLine($"1. The kubelet emulator listens on {kubelet.SocketPath} and serves PodResources v1 on "
            + $"{kubelet.PodResourcesSocketPath}.");

        var options = new DaemonOptions
        {
            KubeletDirectory = kubeletDir,
            ConfigPath = configPath,
            MetricsAddress = "127.0.0.1:0",
            PodResourcesSocket = kubelet.PodResourcesSocketPath!,
        };
        await using var daemon = new Daemon(options, DeviceSources.Schemas.LoadFile(configPath), loggers);
        var started = DateTimeOffset.UtcNow;
        await daemon.StartAsync();

        var plugin = await kubelet.WaitForRegistrationAsync(ResourceName, Wait);
        var first = await plugin.WaitForListAsync(l => l.Devices.Count > 0, Wait);
        output.WriteLine($"2. The plugin registered {plugin.ResourceName} (API v1beta1, endpoint {plugin.Endpoint}) "
            + $"{(plugin.RegisteredAt - started).TotalMilliseconds:0} ms after start; options: preferred allocation "
            + $"{(plugin.Options.GetPreferredAllocationAvailable ? "on" : "off")}, PreStartContainer {(plugin.Options.PreStartRequired ? "on" : "off")}.");
        output.WriteLine("3. The kubelet received the device list:");
        foreach (var d in first.Devices)
        {
            output.WriteLine($"     {d.ID,-6} {d.Health,-9} NUMA node {string.Join(",", d.Topology?.Nodes.Select(n => n.ID) ?? [])}");
        }

        var available = first.Devices.Select(d => d.ID).ToArray();
        var preferred = await plugin.GetPreferredAllocationAsync(available, ["sim-2"], 2);
        output.WriteLine($"4. Asked for 2 devices that must include sim-2, the plugin prefers: {string.Join(", ", preferred)} "
            + "(both on NUMA node 1).");

        var response = await plugin.AllocateAsync([.. preferred]);
        var container = response.ContainerResponses[0];
        output.WriteLine("5. Allocate for them answered: " + string.Join(", ", container.Envs.Select(e => $"{e.Key}={e.Value}")));

        var pod = await kubelet.AdmitPodAsync(PodSpec.WithDevices(PodName, ResourceName, 1, PodNamespace));
        output.WriteLine($"6. The kubelet admitted pod {PodNamespace}/{PodName} asking for one device; its container main "
            + $"got {string.Join(", ", pod.DevicesOf("main", ResourceName))}.");

        var edited = DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(configPath, Config("Unhealthy"));
        output.WriteLine("7. sim-2 is marked Unhealthy in the config file (as a health monitor would report a fault).");
        var update = await plugin.WaitForListAsync(l => !l.IsHealthy("sim-2"), Wait);
        output.WriteLine($"8. The kubelet received a new list {(update.ReceivedAt - edited).TotalMilliseconds:0} ms after the edit: "
            + string.Join(", ", update.Devices.Select(d => $"{d.ID}={d.Health}")) + ".");

        try
        {
            await plugin.AllocateAsync("sim-2");
            output.WriteLine("9. Unexpected: Allocate accepted an unhealthy device.");
            return 1;
        }
        catch (Grpc.Core.RpcException e)
        {
            output.WriteLine($"9. Allocate of sim-2 is now refused: {e.StatusCode}: {e.Status.Detail}.");
        }

        var metrics = new Uri(daemon.MetricsAddress!, "/metrics");
        output.WriteLine($"10. {metrics} names the pod on its device once the plugin has asked PodResources again "
            + "(at most every 10 s), beside each device's health:");
        foreach (var line in await ScrapeUntilPodShowsAsync(metrics))
        {
            output.WriteLine($"     {line}");
        }

        await daemon.StopAsync();
        output.WriteLine($"11. The plugin stopped and removed its socket ({(File.Exists(Path.Combine(kubeletDir, plugin.Endpoint)) ? "still there!" : "gone")}). Demo finished.");
        return 0;
    }

    public const string PodName = "trainer";

    public const string PodNamespace = "ml";

    /// <summary>
    /// The device_plugin_device_allocation and device_plugin_device_health lines of /metrics, scraped until the pod
    /// shows (the plugin lists PodResources at most once per period, so this waits for the next one).
    /// </summary>
    private static async Task<string[]> ScrapeUntilPodShowsAsync(Uri metrics)
    {
        using var http = new HttpClient { Timeout = Wait };
        using var deadline = new CancellationTokenSource(Metrics.PodResourcesPoller.Period + Wait);
        while (true)
        {
            var lines = (await http.GetStringAsync(metrics, deadline.Token)).Split('\n')
                .Where(l => l.StartsWith("device_plugin_device_allocation{", StringComparison.Ordinal)
                    || l.StartsWith("device_plugin_device_health{", StringComparison.Ordinal))
                .ToArray();
            if (lines.Any(l => l.Contains($"pod=\"{PodName}\"", StringComparison.Ordinal)))
            {
                return lines;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), deadline.Token);
        }
    }
}
