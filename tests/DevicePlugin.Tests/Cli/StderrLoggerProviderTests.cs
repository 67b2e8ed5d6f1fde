using System.Text;
using DevicePlugin.Cli;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Cli;

/// <summary>The daemon's logger: lines in order, all of them written by the time the factory is disposed, never a throw.</summary>
public sealed partial class StderrLoggerProviderTests
{
    [LoggerMessage(0, LogLevel.Information, "line {Index}")]
    private static partial void Line(ILogger logger, int index);

    [LoggerMessage(0, LogLevel.Debug, "{Text}")]
    private static partial void Debug(ILogger logger, string text);

    [LoggerMessage(0, LogLevel.Information, "{Text}")]
    private static partial void Information(ILogger logger, string text);

    [LoggerMessage(0, LogLevel.Warning, "{Text}")]
    private static partial void Warning(ILogger logger, string text);

    [LoggerMessage(0, LogLevel.Error, "{Text}")]
    private static partial void Error(ILogger logger, string text);

    [Fact]
    public void Every_line_logged_from_several_threads_is_written_whole_and_in_each_thread_s_order_when_the_factory_is_disposed()
    {
        var output = new MemoryStream();
        var loggers = DevicePlugin.Cli.Logging.Create(LogFormat.Text, LogLevel.Information, output);
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var logger = loggers.CreateLogger($"T{t}");
            for (var i = 0; i < 3000; i++)
            {
                Line(logger, i);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        loggers.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(12_000, lines.Length);
        for (var t = 0; t < 4; t++)
        {
            var indices = lines.Where(l => l.Contains($" info: T{t}[0] ", StringComparison.Ordinal))
                .Select(l => int.Parse(l[(l.LastIndexOf(' ') + 1)..])).ToList();
            Assert.Equal(Enumerable.Range(0, 3000), indices);
        }
    }

    [Fact]
    public void A_line_logged_after_dispose_is_still_written()
    {
        var output = new MemoryStream();
        var provider = new StderrLoggerProvider(LogFormat.Json, new StderrLineWriter(output));
        var logger = provider.CreateLogger("Late");
        provider.Dispose();
        Warning(logger, "after the end");
        var line = Encoding.UTF8.GetString(output.ToArray());
        Assert.Contains("\"Message\":\"after the end\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_broken_stderr_loses_lines_without_throwing_at_the_caller()
    {
        var output = new BrokenStream();
        var provider = new StderrLoggerProvider(LogFormat.Text, new StderrLineWriter(output));
        var logger = provider.CreateLogger("X");
        Error(logger, "one");
        provider.Dispose();
        Error(logger, "two"); // written on this thread now: must not throw either
        Assert.True(output.Writes >= 1);
    }

    [Fact]
    public void The_daemon_s_factory_leaves_debug_and_the_server_s_and_grpc_s_own_information_lines_out()
    {
        var output = new MemoryStream();
        using (var loggers = DevicePlugin.Cli.Logging.Create(LogFormat.Text, LogLevel.Information, output))
        {
            Information(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics"), "request");
            Warning(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics"), "kept warning");
            Information(loggers.CreateLogger("Grpc.AspNetCore.Server.ServerCallHandler"), "call");
            Error(loggers.CreateLogger("Grpc.AspNetCore.Server.ServerCallHandler"), "kept error");
            Debug(loggers.CreateLogger("DevicePlugin.Daemon"), "debug");
            Information(loggers.CreateLogger("DevicePlugin.Daemon"), "kept info");
        }

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["kept warning", "kept error", "kept info"], lines.Select(l => l[(l.IndexOf("] ", StringComparison.Ordinal) + 2)..]));
    }

    private sealed class BrokenStream : Stream
    {
        public int Writes { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get => 0; set { } }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes++;
            throw new IOException("Broken pipe");
        }
    }
}
