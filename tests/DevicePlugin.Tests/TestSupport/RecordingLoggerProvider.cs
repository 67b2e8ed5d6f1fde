using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>Keeps every formatted log line so tests can check that logs explain what happened.</summary>
public sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentDictionary<string, int> _scopes = new();

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Logging scopes begun by loggers of <paramref name="category"/>.</summary>
    public int ScopesBegun(string category) => _scopes.GetValueOrDefault(category);

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Recorder(RecordingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            owner._scopes.AddOrUpdate(category, 1, static (_, n) => n + 1);
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}"
                + (exception is null ? "" : Environment.NewLine + exception));
    }
}
