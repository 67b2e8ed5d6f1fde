using Microsoft.Extensions.Logging;

namespace DevicePlugin.Pipeline;

internal static partial class ManagerLog
{
    [LoggerMessage(100, LogLevel.Error, "{Observer} failed: {Message}")]
    public static partial void ObserverFailed(ILogger logger, string observer, string message);

    [LoggerMessage(101, LogLevel.Error, "resource name conflict: {Conflict}")]
    public static partial void ResourceConflict(ILogger logger, string conflict);
}
