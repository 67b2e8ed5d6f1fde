using System.Text.Json;
using DevicePlugin.Cli;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// With <c>--log-format json</c> every line the process writes on stderr is one JSON object with the same fields,
/// whatever path the process takes: serving, refusing a config change, logging an exception, refusing its command
/// line or config file, failing to start, stopping.
/// </summary>
public sealed class JsonLogTests
{
    private const int SigTerm = 15;
    private static readonly TimeSpan ProcessWait = TimeSpan.FromSeconds(30);

    /// <summary>Parses every stderr line as one JSON object with the stable fields; returns them in order.</summary>
    private static List<JsonElement> EveryLineIsOneJsonObject(string stderr)
    {
        var lines = stderr.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
        Assert.NotEmpty(lines);
        var objects = new List<JsonElement>();
        foreach (var line in lines)
        {
            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(line);
                root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new Xunit.Sdk.XunitException($"a stderr line is not JSON ({e.Message}): {line}\nall of stderr:\n{stderr}");
            }

            Assert.True(root.ValueKind == JsonValueKind.Object, $"not a JSON object: {line}");
            Assert.True(DateTimeOffset.TryParse(root.GetProperty("Timestamp").GetString(), out _), line);
            Assert.Equal(JsonValueKind.Number, root.GetProperty("EventId").ValueKind);
            Assert.True(Enum.TryParse<LogLevel>(root.GetProperty("LogLevel").GetString(), out _), line);
            Assert.False(string.IsNullOrEmpty(root.GetProperty("Category").GetString()), line);
            Assert.False(string.IsNullOrEmpty(root.GetProperty("Message").GetString()), line);
            Assert.Equal(JsonValueKind.Object, root.GetProperty("State").ValueKind);
            objects.Add(root);
        }

        return objects;
    }

    private static int EventId(JsonElement line) => line.GetProperty("EventId").GetInt32();

    private static string Message(JsonElement line) => line.GetProperty("Message").GetString()!;

    [Fact]
    public async Task A_daemon_that_serves_refuses_a_config_change_logs_an_exception_and_stops_writes_only_json_lines()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("k");
        await using var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();

        // CDI specs go to a path that is a file: writing them fails with an IOException and its stack trace.
        var notADirectory = dir.Combine("not-a-directory");
        await File.WriteAllTextAsync(notADirectory, "");
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated(extra: $"cdi:\n  specDir: {notADirectory}\n").Replace(
            "    source: simulated\n", "    source: simulated\n    naming: cdi\n", StringComparison.Ordinal));

        using var daemon = new DaemonProcess(
            ["--config", config, "--kubelet-dir", kubeletDir, "--metrics-address", "127.0.0.1:0",
             "--pod-resources-socket", dir.Combine("absent/kubelet.sock"), "--log-format", "json"]);
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, ProcessWait);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, ProcessWait);

        await File.WriteAllTextAsync(config, Configs.Simulated(replicas: 0));
        await Eventually.TrueAsync(() => daemon.Stderr.Contains("configuration change refused", StringComparison.Ordinal),
            "the refusal is logged", ProcessWait);

        daemon.Signal(SigTerm);
        Assert.Equal(0, await daemon.WaitForExitAsync(ProcessWait));

        var lines = EveryLineIsOneJsonObject(daemon.Stderr);
        Assert.Contains(lines, l => EventId(l) == 200); // starting
        Assert.Contains(lines, l => EventId(l) == 203 && Message(l).Contains("replicas", StringComparison.Ordinal));
        Assert.Contains(lines, l => EventId(l) == 206); // stopped

        // The exception, stack trace and all, is inside its one line.
        var failure = Assert.Single(lines, l => EventId(l) == 5005 && l.TryGetProperty("Exception", out _));
        var exception = failure.GetProperty("Exception").GetString()!;
        Assert.Contains("IOException", exception, StringComparison.Ordinal);
        Assert.Contains("\n   at ", exception, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_config_file_at_start_is_one_json_line_naming_file_line_and_key()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: a.com/x\n    source: simulated\n    replicas: 0\n");
        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Combine("k"), "--log-format=json"]);
        Assert.Equal(2, code);
        var line = Assert.Single(EveryLineIsOneJsonObject(stderr));
        Assert.Equal("Error", line.GetProperty("LogLevel").GetString());
        Assert.StartsWith($"config error: {config}:4: resources[0].replicas: ", Message(line), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--kubelet-dirr", "/tmp", "--log-format", "json" }, "", "unknown flag --kubelet-dirr (see --help)")]
    [InlineData(new[] { "--fail-on-init-error", "maybe" }, "json", "--fail-on-init-error: \"maybe\" is not true or false")]
    [InlineData(new[] { "--log-format", "xml" }, "json", "--log-format: \"xml\" is not text or json")]
    [InlineData(new[] { "stray", "--log-format=json" }, "", "unexpected argument \"stray\" (flags start with --; see --help)")]
    public async Task A_bad_command_line_is_one_json_line_once_json_is_asked_for_anywhere(string[] args, string environment, string expected)
    {
        var env = environment.Length == 0 ? null : new Dictionary<string, string> { ["DP_LOG_FORMAT"] = environment };
        var (code, _, stderr) = await DaemonProcess.RunAsync(args, env);
        Assert.Equal(2, code);
        var line = Assert.Single(EveryLineIsOneJsonObject(stderr));
        Assert.Equal(expected, Message(line));
    }

    [Fact]
    public async Task A_start_up_failure_is_one_json_line_among_json_lines()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: xilinx.com/fpga\n    source: pci\n    match:\n      - vendor: \"0x10ee\"\n");
        var sysfs = dir.Combine("no-sys");
        var (code, _, stderr) = await DaemonProcess.RunAsync(
            ["--config", config, "--kubelet-dir", dir.Combine("k"), "--sysfs-root", sysfs, "--metrics-address="],
            new Dictionary<string, string> { ["DP_LOG_FORMAT"] = "json" });
        Assert.Equal(1, code);
        var failure = Assert.Single(EveryLineIsOneJsonObject(stderr), l => l.GetProperty("LogLevel").GetString() == "Critical");
        Assert.Contains(sysfs, Message(failure), StringComparison.Ordinal);
        Assert.EndsWith("(--fail-on-init-error is true)", Message(failure), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unhandled_exception_is_logged_with_its_trace_the_queue_flushed_and_the_process_ended_with_70()
    {
        var provider = new DisposeRecordingProvider();
        var loggers = new LoggerFactory();
        loggers.AddProvider(provider);
        int? exitCode = null;
        var handler = UnhandledExceptionLog.Handler(loggers, code => exitCode = code);

        Exception thrown;
        try
        {
            throw new InvalidOperationException("first line\nsecond line");
        }
        catch (InvalidOperationException e)
        {
            thrown = e;
        }

        handler(this, new UnhandledExceptionEventArgs(thrown, isTerminating: true));

        Assert.Equal(70, exitCode);
        Assert.True(provider.Disposed, "the logger factory is disposed, which drains the console logger's queue");
        var line = Assert.Single(provider.Inner.Lines);
        Assert.StartsWith("Critical DevicePlugin.Program: unhandled exception, exiting: System.InvalidOperationException: first line", line, StringComparison.Ordinal);
        Assert.Contains("   at ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void The_process_ends_even_when_logging_the_exception_fails()
    {
        var loggers = LoggerFactory.Create(b => b.AddProvider(new ThrowingProvider()));
        int? exitCode = null;
        var handler = UnhandledExceptionLog.Handler(loggers, code => exitCode = code);
        Assert.ThrowsAny<Exception>(() => handler(this, new UnhandledExceptionEventArgs(new InvalidOperationException("x"), isTerminating: true)));
        Assert.Equal(70, exitCode);
    }

    private sealed class DisposeRecordingProvider : ILoggerProvider
    {
        public RecordingLoggerProvider Inner { get; } = new();

        public bool Disposed { get; private set; }

        public ILogger CreateLogger(string categoryName) => Inner.CreateLogger(categoryName);

        public void Dispose() => Disposed = true;
    }

    private sealed class ThrowingProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Throwing();

        public void Dispose()
        {
        }

        private sealed class Throwing : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                throw new IOException("stderr is gone");
        }
    }
}
