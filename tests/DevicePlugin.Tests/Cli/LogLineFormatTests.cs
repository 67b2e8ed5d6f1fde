using System.Text;
using System.Text.RegularExpressions;
using DevicePlugin.Cli;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// The daemon's own log lines are the lines Microsoft.Extensions.Logging.Console writes with the options the daemon
/// used to give it (simple formatter, one line, UTC timestamp, no colours; the JSON formatter with the same
/// timestamp): every entry below goes through both and must come out the same, the timestamp aside.
/// </summary>
public sealed partial class LogLineFormatTests
{
    private static readonly Regex Timestamp = TimestampPattern();

    [LoggerMessage(9990, LogLevel.Information, "numbers {Count} {Ratio} {Big} {Flag} {Letter} {Nothing} {When}")]
    private static partial void Values(ILogger logger, int count, double ratio, ulong big, bool flag, char letter, string? nothing, TimeSpan when);

    [LoggerMessage(9991, LogLevel.Warning, "text with \"quotes\", <angle> & 'apostrophes', ümlauts, 日本, a tab\tand a line\nbreak")]
    private static partial void Awkward(ILogger logger);

    [LoggerMessage(9992, LogLevel.Error, "failed on {Path}")]
    private static partial void Failed(ILogger logger, Exception exception, string path);

    public static TheoryData<LogFormat> Formats => [LogFormat.Text, LogFormat.Json];

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_entry_is_the_line_the_console_logger_writes(LogFormat format)
    {
        var compare = new ComparingLogger(format, "DevicePlugin.Daemon");

        DaemonLog.Starting(compare, "/var/lib/kubelet/device-plugins", "(built-in defaults)", 3);
        DaemonLog.StartFailed(compare, "cannot read /sys/bus/pci/devices: No such file or directory (ENOENT)");
        var when = TimeSpan.FromMilliseconds(1500);
        Values(compare, -7, 0.25, ulong.MaxValue, true, 'x', null, when);
        Awkward(compare);
        Failed(compare, Thrown(), "/etc/cdi/x.json");
        DaemonLog.Unhandled(compare, Thrown(), "System.IO.IOException", "first line\nsecond line");
        compare.Log(LogLevel.Debug, new EventId(1), "plain", null, (s, _) => s);
        compare.Log(LogLevel.Trace, default, "", null, (s, _) => s);
        var thrown = Thrown();
        compare.Log(LogLevel.Critical, new EventId(2), "no message, an exception", thrown, (_, _) => null!);
        compare.Log(LogLevel.Information, new EventId(3), "neither", null, (_, _) => null!);

        Assert.Equal(10, compare.Entries);
        Assert.Equal(9, compare.Lines); // the entry with neither a message nor an exception writes nothing, in both
    }

    [Fact]
    public void A_text_line_is_one_line_with_the_timestamp_level_category_and_event_id()
    {
        var now = new DateTimeOffset(2026, 11, 30, 15, 4, 5, 678, TimeSpan.Zero);
        var line = Encoding.UTF8.GetString(LogLineFormat.Text(now, LogLevel.Warning, "DevicePlugin.X", 42, "a\nb", null)!);
        Assert.Equal("2026-11-30T15:04:05.678Z warn: DevicePlugin.X[42] a b\n", line);
    }

    private static IOException Thrown()
    {
        try
        {
            throw new IOException("disk says no\nsecond line of the message");
        }
        catch (IOException e)
        {
            return e;
        }
    }

    /// <summary>Writes each entry with the library's formatter and with <see cref="LogLineFormat"/> and compares.</summary>
    private sealed class ComparingLogger(LogFormat format, string category) : ILogger
    {
        private readonly ConsoleFormatter _library = LibraryFormatter(format);

        public int Entries { get; private set; }

        public int Lines { get; private set; }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Entries++;
            using var expected = new StringWriter();
            _library.Write(new Microsoft.Extensions.Logging.Abstractions.LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), null, expected);
            var now = DateTimeOffset.UtcNow;
            var message = formatter(state, exception);
            var bytes = format == LogFormat.Json
                ? LogLineFormat.Json(now, logLevel, category, eventId.Id, message, exception, state)
                : LogLineFormat.Text(now, logLevel, category, eventId.Id, message, exception);
            var actual = bytes is null ? "" : Encoding.UTF8.GetString(bytes);
            if (Normalise(expected.ToString()) != Normalise(actual))
            {
                throw new Xunit.Sdk.XunitException($"the console logger wrote\n{expected}\nLogLineFormat wrote\n{actual}");
            }

            if (actual.Length > 0)
            {
                Lines++;
                Assert.Matches(Timestamp, actual);
                Assert.EndsWith("\n", actual, StringComparison.Ordinal);
                Assert.Equal(1, actual.Count(c => c == '\n'));
            }
        }

        private static string Normalise(string line) => Timestamp.Replace(line, "<time>");

        private static ConsoleFormatter LibraryFormatter(LogFormat format)
        {
            var services = new ServiceCollection();
            services.AddLogging(b =>
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                    o.UseUtcTimestamp = true;
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
                b.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                });
            });
            var provider = services.BuildServiceProvider();
            var name = format == LogFormat.Json ? ConsoleFormatterNames.Json : ConsoleFormatterNames.Simple;
            return provider.GetServices<ConsoleFormatter>().Single(f => f.Name == name);
        }
    }

    [GeneratedRegex(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")]
    private static partial Regex TimestampPattern();
}
