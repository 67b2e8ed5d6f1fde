using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>
/// The daemon's log provider: every entry as one line on stderr, as text or JSON (<see cref="LogLineFormat"/>),
/// written from a queue (<see cref="StderrLineWriter"/>). It does what the console logger of
/// Microsoft.Extensions.Logging.Console did here, with the same lines, without its options, configuration and
/// dependency-injection set-up, which took 16 – 26 ms of every start (docs/BENCHMARKS.md). Scopes are not written
/// (the console logger's IncludeScopes was off).
/// </summary>
internal sealed class StderrLoggerProvider(LogFormat format, StderrLineWriter writer, TimeProvider? time = null) : ILoggerProvider
{
    private readonly LogFormat _format = format;
    private readonly StderrLineWriter _writer = writer;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() => _writer.Dispose();

    private sealed class Logger(StderrLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var now = provider._time.GetUtcNow();
            var message = formatter(state, exception);
            var line = provider._format == LogFormat.Json
                ? LogLineFormat.Json(now, logLevel, category, eventId.Id, message, exception, state)
                : LogLineFormat.Text(now, logLevel, category, eventId.Id, message, exception);
            if (line is not null)
            {
                provider._writer.Enqueue(line);
            }
        }
    }
}
