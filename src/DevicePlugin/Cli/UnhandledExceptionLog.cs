using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>
/// An exception nothing caught, on any thread, ends the process through the daemon's own logger instead of the
/// runtime's multi-line "Unhandled exception." text: one log line (with <c>--log-format json</c> one JSON object,
/// the stack trace inside it), the lines still queued are flushed, and the exit status is <see cref="ExitCode"/>.
/// </summary>
public static class UnhandledExceptionLog
{
    /// <summary>EX_SOFTWARE: an internal error, told apart from a bad flag (2) or a start-up failure (1).</summary>
    public const int ExitCode = 70;

    public static void Install(ILoggerFactory loggers) => AppDomain.CurrentDomain.UnhandledException += Handler(loggers, Environment.Exit);

    /// <summary>The handler <see cref="Install"/> adds; <paramref name="exit"/> ends the process.</summary>
    public static UnhandledExceptionEventHandler Handler(ILoggerFactory loggers, Action<int> exit) => (_, e) =>
    {
        try
        {
            var exception = e.ExceptionObject as Exception
                ?? new InvalidOperationException($"a non-exception object was thrown: {e.ExceptionObject}");
            DaemonLog.Unhandled(loggers.CreateLogger("DevicePlugin.Program"), exception, exception.GetType().FullName ?? "?", exception.Message);

            // Log lines are written from a queue on a thread of their own (StderrLineWriter): disposing the factory drains it.
            loggers.Dispose();
        }
        finally
        {
            // Ending the process here keeps the runtime from printing the exception again as plain text.
            exit(ExitCode);
        }
    };
}
