using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>Log messages of the <c>pci</c> source.</summary>
internal static partial class PciLog
{
    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "PCI device {Address} ({Vendor:x4}:{Device:x4} class {Class:x6}, driver {Driver}) belongs to {Resource}, device nodes: {Nodes}")]
    public static partial void DeviceMatched(ILogger logger, string address, ushort vendor, ushort device, uint @class, string driver, string resource, string nodes);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "fault on PCI device {Address} of {Resource}: {Reason}")]
    public static partial void Fault(ILogger logger, string address, string resource, string reason);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Debug, Message = "PCI device {Address} of {Resource} is healthy again")]
    public static partial void Recovered(ILogger logger, string address, string resource);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Information, Message = "PCI device {Address} now uses driver {Driver} and belongs to {Resource}")]
    public static partial void DriverAccepted(ILogger logger, string address, string driver, string resource);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Information, Message = "PCI device {Address} left {Resource}: it no longer matches any pci resource")]
    public static partial void DeviceDropped(ILogger logger, string address, string resource);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Warning, Message = "Cannot list PCI devices in {Listing}: {Reason}; keeping the devices already known and retrying")]
    public static partial void ListingUnreadable(ILogger logger, string listing, string reason);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Information, Message = "PCI devices can be listed in {Listing} again")]
    public static partial void ListingReadable(ILogger logger, string listing);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information, Message = "PCI source: {Resources} resource(s), {Devices} device(s) after a scan of {Functions} PCI functions")]
    public static partial void Scanned(ILogger logger, int resources, int devices, int functions);
}
