using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

internal static partial class KubeletLog
{
    [LoggerMessage(1, LogLevel.Information, "{Resource}: serving on {Socket}")]
    public static partial void Serving(ILogger logger, string resource, string socket);

    [LoggerMessage(2, LogLevel.Information, "{Resource}: registered with the kubelet ({Devices} devices, endpoint {Endpoint}) in {Milliseconds} ms")]
    public static partial void Registered(ILogger logger, string resource, int devices, string endpoint, long milliseconds);

    [LoggerMessage(4, LogLevel.Information, "{Resource}: stopped serving; socket {Socket} removed")]
    public static partial void Stopped(ILogger logger, string resource, string socket);

    [LoggerMessage(5, LogLevel.Information, "{Resource}: kubelet restart detected ({Why}); recreating the socket and registering again")]
    public static partial void KubeletRestarted(ILogger logger, string resource, string why);

    [LoggerMessage(6, LogLevel.Information, "{Resource}: ListAndWatch stream opened; sent {Count} devices")]
    public static partial void StreamOpened(ILogger logger, string resource, int count);

    [LoggerMessage(7, LogLevel.Information, "{Resource}: device list changed; sent {Healthy} healthy of {Count} to {Streams} stream(s)")]
    public static partial void ListSent(ILogger logger, string resource, int healthy, int count, int streams);

    [LoggerMessage(8, LogLevel.Information, "{Resource}: Allocate refused: {Message}")]
    public static partial void AllocateRefused(ILogger logger, string resource, string message);

    [LoggerMessage(9, LogLevel.Debug, "{Resource}: Allocate answered for {Devices}")]
    public static partial void Allocated(ILogger logger, string resource, string devices);


    [LoggerMessage(11, LogLevel.Information, "{Resource}: ListAndWatch stream ended ({Why})")]
    public static partial void StreamEnded(ILogger logger, string resource, string why);

    [LoggerMessage(12, LogLevel.Information, "{Resource}: new resource with {Devices} devices")]
    public static partial void ResourceAdded(ILogger logger, string resource, int devices);

    [LoggerMessage(13, LogLevel.Information, "{Resource}: resource removed")]
    public static partial void ResourceRemoved(ILogger logger, string resource);

    [LoggerMessage(14, LogLevel.Information, "{Resource}: options changed (preStartRequired={PreStart}); registering again")]
    public static partial void OptionsChanged(ILogger logger, string resource, bool preStart);

    [LoggerMessage(16, LogLevel.Information, "{Resource}: PreStartContainer refused: {Message}")]
    public static partial void PreStartRefused(ILogger logger, string resource, string message);

    [LoggerMessage(18, LogLevel.Warning, "{Resource}: a new kubelet.sock appeared while Register was pending; abandoning that call and registering with the new kubelet")]
    public static partial void RegisterAbandoned(ILogger logger, string resource);

    [LoggerMessage(19, LogLevel.Information, "{Resource}: GetPreferredAllocation refused: {Message}")]
    public static partial void PreferredAllocationRefused(ILogger logger, string resource, string message);

    [LoggerMessage(20, LogLevel.Warning, "{Method} refused: {Problem}")]
    public static partial void MalformedRequest(ILogger logger, string method, string problem);
}
