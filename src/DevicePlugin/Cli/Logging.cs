using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace DevicePlugin.Cli;

/// <summary>Log lines on stderr, as text (one line each) or JSON.</summary>
public static class Logging
{
    public static ILoggerFactory Create(LogFormat format, LogLevel minimum = LogLevel.Information) =>
        LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(minimum);
            b.AddFilter("Microsoft", LogLevel.Warning);
            b.AddFilter("Grpc", LogLevel.Warning);
            if (format == LogFormat.Json)
            {
                b.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                });
            }
            else
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                    o.UseUtcTimestamp = true;
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }

            b.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
}
