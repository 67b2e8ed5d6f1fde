using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>Log messages of the <c>pci</c> source.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "PCI device {Address} skipped: {Reason}")]
    public static partial void UnreadableDevice(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "PCI device {Address}: {Path} ignored: {Reason}")]
    public static partial void UnreadableFile(ILogger logger, string address, string path, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "PCI device {Address} ({Vendor:x4}:{Device:x4} class {Class:x6}, driver {Driver}) belongs to {Resource}, device nodes: {Nodes}")]
    public static partial void DeviceMatched(ILogger logger, string address, ushort vendor, ushort device, uint @class, string driver, string resource, string nodes);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "fault on PCI device {Address} of {Resource}: {Reason}")]
    public static partial void Fault(ILogger logger, string address, string resource, string reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Debug, Message = "PCI device {Address} of {Resource} is healthy again")]
    public static partial void Recovered(ILogger logger, string address, string resource);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "PCI device {Address} now uses driver {Driver} and belongs to {Resource}")]
    public static partial void DriverAccepted(ILogger logger, string address, string driver, string resource);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "PCI device {Address} left {Resource}: it no longer matches any pci resource")]
    public static partial void DeviceDropped(ILogger logger, string address, string resource);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Cannot list PCI devices in {Listing}: {Reason}; keeping the devices already known and retrying")]
    public static partial void ListingUnreadable(ILogger logger, string listing, string reason);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "PCI devices can be listed in {Listing} again")]
    public static partial void ListingReadable(ILogger logger, string listing);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Error, Message = "PCI health poll failed; the next poll retries")]
    public static partial void PollFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "PCI source: {Resources} resource(s), {Devices} device(s) after a scan of {Functions} PCI functions")]
    public static partial void Scanned(ILogger logger, int resources, int devices, int functions);
}
