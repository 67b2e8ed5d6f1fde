using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Sources;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// A node for integration tests: a temporary kubelet directory with the kubelet emulator, a config file, and the real
/// daemon in-process, talking gRPC over real Unix sockets. Metrics listen on 127.0.0.1 on a free port.
/// </summary>
public sealed class PluginNode : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _dir = new();
    private readonly ILoggerFactory _loggers;

    private PluginNode(string config, TimeProvider? time, SourceFactory? sources, Func<DaemonOptions, DaemonOptions>? options, bool podResources,
        SourceCatalog? catalog)
    {
        _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(Logs));
        KubeletDirectory = _dir.Combine("device-plugins");
        ConfigPath = _dir.Combine("config.yaml");
        File.WriteAllText(ConfigPath, config);
        PodResourcesSocket = EmulatedKubelet.DefaultPodResourcesSocketPath(KubeletDirectory);
        Kubelet = new EmulatedKubelet(KubeletDirectory, _loggers) { PodResourcesSocketPath = podResources ? PodResourcesSocket : null };
        var o = new DaemonOptions
        {
            KubeletDirectory = KubeletDirectory,
            ConfigPath = ConfigPath,
            MetricsAddress = "127.0.0.1:0",
            PodResourcesSocket = PodResourcesSocket,
            SysfsRoot = _dir.Combine("sys"),
            DevRoot = _dir.Combine("dev"),
        };
        Options = options is null ? o : options(o);
        Daemon = new Daemon(Options, (catalog ?? DeviceSources.Builtin).Schemas.LoadFile(ConfigPath), _loggers, time, sources, catalog);
    }

    public RecordingLoggerProvider Logs { get; } = new();

    public string Root => _dir.Path;

    public string KubeletDirectory { get; }

    public string ConfigPath { get; }

    /// <summary>Where the emulator serves PodResources v1 when started with <c>podResources: true</c> (DIR/../pod-resources/kubelet.sock).</summary>
    public string PodResourcesSocket { get; }

    public DaemonOptions Options { get; }

    public EmulatedKubelet Kubelet { get; }

    public Daemon Daemon { get; }

    /// <summary>Starts the kubelet emulator (unless told not to; serving PodResources when asked) and then the daemon.</summary>
    public static async Task<PluginNode> StartAsync(
        string config, bool startKubelet = true, TimeProvider? time = null, SourceFactory? sources = null,
        Func<DaemonOptions, DaemonOptions>? options = null, bool podResources = false, SourceCatalog? catalog = null)
    {
        var node = new PluginNode(config, time, sources, options, podResources, catalog);
        if (startKubelet)
        {
            await node.Kubelet.StartAsync();
        }

        await node.Daemon.StartAsync();
        return node;
    }

    public Task<PluginConnection> RegistrationAsync(string resource, int minGeneration = 1) =>
        Kubelet.WaitForRegistrationAsync(resource, Wait, minGeneration);

    /// <summary>Rewrites the config file in place (the watcher notices within its period).</summary>
    public async Task<DateTimeOffset> WriteConfigAsync(string yaml)
    {
        var at = DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(ConfigPath, yaml);
        return at;
    }

    public async Task<string> GetAsync(string path)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(Daemon.MetricsAddress!, path));
    }

    /// <summary>Scrapes /metrics (which must answer 200) and parses it.</summary>
    public async Task<PrometheusText> ScrapeAsync() => PrometheusText.Parse(await GetAsync("/metrics"));

    public async Task<int> StatusOfAsync(string path)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(Daemon.MetricsAddress!, path));
        return (int)response.StatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        await Kubelet.DisposeAsync();
        _loggers.Dispose();
        _dir.Dispose();
    }
}
