using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

internal static partial class HostingLog
{
    [LoggerMessage(9000, LogLevel.Error, "background loop {Loop}: a pass failed ({Type}: {Message}); the loop goes on, next pass within {RetryMs} ms")]
    public static partial void PassFailed(ILogger logger, string loop, string type, string message, long retryMs);

    [LoggerMessage(9001, LogLevel.Debug, "background loop {Loop}: failure detail")]
    public static partial void PassFailedDetail(ILogger logger, string loop, Exception exception);

    [LoggerMessage(9002, LogLevel.Warning, "{Socket}: cannot accept connections ({Error}: {Message}); retrying, waiting clients stay queued")]
    public static partial void AcceptFailing(ILogger logger, string socket, string error, string message);

    [LoggerMessage(9003, LogLevel.Information, "{Socket}: accepting connections again")]
    public static partial void AcceptRecovered(ILogger logger, string socket);

    [LoggerMessage(9004, LogLevel.Debug, "{Socket}: closed a connection that sent nothing within {TimeoutMs} ms")]
    public static partial void SilentConnectionClosed(ILogger logger, string socket, long timeoutMs);

    [LoggerMessage(9005, LogLevel.Information, "released {ReleasedKiB} KiB of the executable's mapped pages ({Released} read-only mappings, {Skipped} left as they are); they map again as they are used")]
    public static partial void ExecutablePagesReleased(ILogger logger, long releasedKiB, int released, int skipped);

    [LoggerMessage(9006, LogLevel.Debug, "released {ReleasedKiB} KiB of the executable's mapped pages ({Released} read-only mappings, {Skipped} left as they are)")]
    public static partial void ExecutablePagesReleasedAgain(ILogger logger, long releasedKiB, int released, int skipped);

    [LoggerMessage(9007, LogLevel.Information, "the executable's mapped pages are kept: {Problem}")]
    public static partial void ExecutablePagesKept(ILogger logger, string problem);
}
