using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

internal static partial class HostingLog
{
    [LoggerMessage(EventId = 9000, Message = "background loop {Loop}: a pass failed ({Type}: {Message}); the loop goes on, next pass within {RetryMs} ms")]
    public static partial void PassFailed(ILogger logger, LogLevel level, string loop, string type, string message, long retryMs);

    [LoggerMessage(9001, LogLevel.Debug, "background loop {Loop}: failure detail")]
    public static partial void PassFailedDetail(ILogger logger, string loop, Exception exception);

    [LoggerMessage(9004, LogLevel.Debug, "{Socket}: closed a connection that sent nothing within {TimeoutMs} ms")]
    public static partial void SilentConnectionClosed(ILogger logger, string socket, long timeoutMs);

    [LoggerMessage(EventId = 9005, Message = "background loop {Loop}: a pass failed ({Type}: {Message}); {Suppressed} failed passes not logged since the last line; the loop goes on, next pass within {RetryMs} ms")]
    public static partial void PassStillFailing(ILogger logger, LogLevel level, string loop, string type, string message, int suppressed, long retryMs);

    [LoggerMessage(9006, LogLevel.Information, "background loop {Loop}: a pass succeeded after {Failures} failed ones")]
    public static partial void PassSucceededAgain(ILogger logger, string loop, int failures);

    [LoggerMessage(9010, LogLevel.Information, "released {ReleasedKiB} KiB of the executable's mapped pages ({Released} read-only mappings, {Skipped} left as they are); they map again as they are used")]
    public static partial void ExecutablePagesReleased(ILogger logger, long releasedKiB, int released, int skipped);

    [LoggerMessage(9011, LogLevel.Debug, "released {ReleasedKiB} KiB of the executable's mapped pages ({Released} read-only mappings, {Skipped} left as they are)")]
    public static partial void ExecutablePagesReleasedAgain(ILogger logger, long releasedKiB, int released, int skipped);

    [LoggerMessage(9012, LogLevel.Information, "the executable's mapped pages are kept: {Problem}")]
    public static partial void ExecutablePagesKept(ILogger logger, string problem);

    [LoggerMessage(9020, LogLevel.Error, "gRPC call {Method} failed: {Type}: {Message}; answered UNKNOWN")]
    public static partial void CallFailed(ILogger logger, string method, string type, string message, Exception exception);
}
