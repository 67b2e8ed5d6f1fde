using Microsoft.Extensions.Logging;

namespace DevicePlugin;

internal static partial class DaemonLog
{
    [LoggerMessage(200, LogLevel.Information, "device-plugin starting: kubelet dir {KubeletDir}, config {Config}, {Resources} resource(s) configured")]
    public static partial void Starting(ILogger logger, string kubeletDir, string config, int resources);

    [LoggerMessage(201, LogLevel.Error, "source {Source} could not start: {Message}")]
    public static partial void SourceFailed(ILogger logger, string source, string message);

    [LoggerMessage(202, LogLevel.Information, "configuration {File} changed: applied ({Resources} resources)")]
    public static partial void ConfigApplied(ILogger logger, string file, int resources);

    [LoggerMessage(203, LogLevel.Error, "configuration change refused, the last good configuration keeps running: {Message}")]
    public static partial void ConfigRejected(ILogger logger, string message);

    [LoggerMessage(204, LogLevel.Information, "metrics, /healthz and /readyz on {Address}")]
    public static partial void MetricsListening(ILogger logger, string address);

    [LoggerMessage(205, LogLevel.Information, "shutting down")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(206, LogLevel.Information, "stopped; sockets removed")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(208, LogLevel.Error, "{Message}")]
    public static partial void MetricsFailed(ILogger logger, string message);

    [LoggerMessage(207, LogLevel.Information, "no --config: using the built-in defaults ({Resources})")]
    public static partial void UsingDefaults(ILogger logger, string resources);

    // 290-299: the process's own lines around the daemon (Cli/ProcessMessages, Cli/UnhandledExceptionLog).
    [LoggerMessage(290, LogLevel.Error, "{Problem}")]
    public static partial void CommandLineRefused(ILogger logger, string problem);

    [LoggerMessage(291, LogLevel.Error, "config error: {Problem}")]
    public static partial void ConfigFileRefused(ILogger logger, string problem);

    [LoggerMessage(292, LogLevel.Critical, "{Problem} (--fail-on-init-error is true)")]
    public static partial void StartFailed(ILogger logger, string problem);

    [LoggerMessage(293, LogLevel.Warning, "shutdown took longer than {Seconds} s; exiting anyway")]
    public static partial void SlowShutdown(ILogger logger, int seconds);

    [LoggerMessage(295, LogLevel.Critical, "{Problem}")]
    public static partial void InstanceLocked(ILogger logger, string problem);

    [LoggerMessage(294, LogLevel.Critical, "unhandled exception, exiting: {Type}: {Error}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string type, string error);
}
