using DevicePlugin.Hosting;
using DevicePlugin.Metrics;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>What every resource server shares: where the kubelet lives, the one web server, logging, metrics and the clock.</summary>
public sealed record ResourceServerContext(
    string KubeletDirectory,
    PluginWebHost Host,
    ILoggerFactory Loggers,
    PluginMetrics Metrics,
    TimeProvider Time)
{
    public string KubeletSocket => Path.Combine(KubeletDirectory, "kubelet.sock");

    /// <summary>Notified each time a resource registers with the kubelet.</summary>
    public Api.ChangeSignal Registrations { get; } = new();

    /// <summary>When set, no socket is created in the directory unless this process holds its instance lock.</summary>
    public KubeletDirectoryLock? DirectoryLock { get; init; }

    /// <summary>Where each resource server loop's failures show (/readyz and the background-loop metrics); none when null.</summary>
    public LoopHealth? Loops { get; init; }
}
