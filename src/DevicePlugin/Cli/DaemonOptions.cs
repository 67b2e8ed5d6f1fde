using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Cli;

/// <summary>The daemon's flags (INTERFACE.md), after flags and <c>DP_*</c> environment variables are merged.</summary>
public sealed record DaemonOptions
{
    public const string DefaultKubeletDirectory = "/var/lib/kubelet/device-plugins";
    public const string DefaultMetricsAddress = "0.0.0.0:9410";
    public const string DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock";

    public string KubeletDirectory { get; init; } = DefaultKubeletDirectory;

    public string? ConfigPath { get; init; }

    public string SysfsRoot { get; init; } = HostPathDefaults.SysfsRoot;

    public string DevRoot { get; init; } = HostPathDefaults.DevRoot;

    public string NvmlLibrary { get; init; } = NvmlSourceOptions.DefaultLibraryPath;

    /// <summary>A host driver tree mounted into the container, searched for the NVML library; null: none.</summary>
    public string? DriverRoot { get; init; }

    /// <summary>Where <c>driver/nvidia-caps/mig-minors</c> and <c>driver/nvidia/capabilities/</c> are read (MIG).</summary>
    public string ProcRoot { get; init; } = HostPathDefaults.ProcRoot;

    /// <summary>HOST:PORT for /metrics, /healthz and /readyz; empty turns the endpoint off.</summary>
    public string MetricsAddress { get; init; } = DefaultMetricsAddress;

    public bool FailOnInitError { get; init; } = true;

    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>The kubelet's PodResources v1 socket (pods on devices in the metrics); empty turns it off.</summary>
    public string PodResourcesSocket { get; init; } = DefaultPodResourcesSocket;

    /// <summary>Where to write Node Feature Discovery labels; null: none are written.</summary>
    public string? NfdFeaturesFile { get; init; }
}
