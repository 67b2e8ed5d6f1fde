using Microsoft.Extensions.Logging;

namespace DevicePlugin.Configuration;

internal static partial class ConfigurationLog
{
    [LoggerMessage(6000, LogLevel.Warning, "reading the configuration file {Path} has been blocked for {Seconds} s (a FIFO or a hung mount?); the running configuration stays")]
    public static partial void ReadBlocked(ILogger logger, string path, long seconds);
}
