using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

internal static partial class HostingLog
{
    [LoggerMessage(9000, LogLevel.Error, "background loop {Loop}: a pass failed ({Type}: {Message}); the loop goes on, next pass within {RetryMs} ms")]
    public static partial void PassFailed(ILogger logger, string loop, string type, string message, long retryMs);

    [LoggerMessage(9001, LogLevel.Debug, "background loop {Loop}: failure detail")]
    public static partial void PassFailedDetail(ILogger logger, string loop, Exception exception);
}
