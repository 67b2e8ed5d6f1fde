using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cdi;

internal static partial class CdiLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Wrote CDI spec {Path} for {Resource} ({Devices} devices, cdiVersion {Version})")]
    public static partial void SpecWritten(ILogger logger, string path, string resource, int devices, string version);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Removed CDI spec {Path} of {Resource}")]
    public static partial void SpecRemoved(ILogger logger, string path, string resource);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "CDI spec of {Resource} leaves out a device: {Problem}")]
    public static partial void DeviceLeftOut(ILogger logger, string resource, string problem);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "No CDI spec for {Resource}: {Problem}")]
    public static partial void SpecRefused(ILogger logger, string resource, string problem);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "Cannot write CDI spec {Path} for {Resource}: {Reason}")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string path, string resource, string reason);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Error, Message = "Cannot remove CDI spec {Path} of {Resource}: {Reason}")]
    public static partial void RemoveFailed(ILogger logger, Exception exception, string path, string resource, string reason);
}
