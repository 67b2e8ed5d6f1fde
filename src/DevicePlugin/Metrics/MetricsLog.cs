using Microsoft.Extensions.Logging;

namespace DevicePlugin.Metrics;

/// <summary>Log events of device health, pod mapping and node labels (IDs 4000-4099).</summary>
internal static partial class MetricsLog
{
    [LoggerMessage(4001, LogLevel.Warning, "{Resource}: device {Device} is now Unhealthy (cause {Cause}: {Reason}); {Holders}")]
    public static partial void DeviceUnhealthy(ILogger logger, string resource, string device, string cause, string reason, string holders);

    [LoggerMessage(4002, LogLevel.Information, "{Resource}: device {Device} is Healthy again (cause {Cause}); {Holders}")]
    public static partial void DeviceRecovered(ILogger logger, string resource, string device, string cause, string holders);
}
