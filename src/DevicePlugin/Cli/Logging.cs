using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>Log lines on stderr, as text (one line each) or JSON (<see cref="StderrLoggerProvider"/>).</summary>
public static class Logging
{
    /// <summary>
    /// A logger factory without dependency injection or configuration: one provider and fixed filters (the server's
    /// and gRPC's own lines from Warning up). Building it takes microseconds.
    /// </summary>
    public static ILoggerFactory Create(LogFormat format, LogLevel minimum = LogLevel.Information) =>
        Create(format, minimum, Console.OpenStandardError());

    /// <summary>The same, writing to <paramref name="output"/> instead of stderr.</summary>
    internal static ILoggerFactory Create(LogFormat format, LogLevel minimum, Stream output)
    {
        var filters = new LoggerFilterOptions { MinLevel = minimum };
        filters.Rules.Add(new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null));
        filters.Rules.Add(new LoggerFilterRule(null, "Grpc", LogLevel.Warning, null));
        var factory = new LoggerFactory([], filters);

        // Added, not passed to the constructor: only an added provider is disposed with the factory, which writes
        // the lines still queued before the process ends.
        factory.AddProvider(new StderrLoggerProvider(format, new StderrLineWriter(output)));
        return factory;
    }
}
