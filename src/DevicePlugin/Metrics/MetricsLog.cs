using Microsoft.Extensions.Logging;

namespace DevicePlugin.Metrics;

/// <summary>Log events of device health, pod mapping and node labels (IDs 4000-4099).</summary>
internal static partial class MetricsLog
{
    [LoggerMessage(4001, LogLevel.Warning, "{Resource}: device {Device} is now Unhealthy (cause {Cause}: {Reason}); {Holders}")]
    public static partial void DeviceUnhealthy(ILogger logger, string resource, string device, string cause, string reason, string holders);

    [LoggerMessage(4002, LogLevel.Information, "{Resource}: device {Device} is Healthy again (cause {Cause}); {Holders}")]
    public static partial void DeviceRecovered(ILogger logger, string resource, string device, string cause, string holders);

    [LoggerMessage(4010, LogLevel.Information, "PodResources {Socket} answers ({Holders} device holders): /metrics names the pod on each device")]
    public static partial void PodResourcesUp(ILogger logger, string socket, int holders);

    [LoggerMessage(4011, LogLevel.Warning, "PodResources {Socket} not answering ({Why}): no pod series, device_plugin_pod_resources_up 0, retrying every 10 s")]
    public static partial void PodResourcesDown(ILogger logger, string socket, string why);

}
