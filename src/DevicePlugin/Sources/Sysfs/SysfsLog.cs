using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>Log messages of the sysfs readers shared by the <c>pci</c> and <c>nvml</c> sources.</summary>
internal static partial class SysfsLog
{
    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "PCI device {Address} skipped: {Reason}")]
    public static partial void UnreadableDevice(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "PCI device {Address}: {Path} ignored: {Reason}")]
    public static partial void UnreadableFile(ILogger logger, string address, string path, string reason);
}
