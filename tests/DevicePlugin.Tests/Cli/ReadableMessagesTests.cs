using System.Text.RegularExpressions;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// What a person reads on stderr when the daemon cannot start: one sentence naming the path and the OS error, never a
/// .NET resource key (<c>IO_FileNotFound_FileName, /x.yaml</c>) or a message split over lines.
/// </summary>
public sealed partial class ReadableMessagesTests
{
    [GeneratedRegex(@"\b[A-Z][A-Za-z0-9]*_[A-Za-z0-9_]+\b,")]
    private static partial Regex ResourceKey();

    private static string[] Lines(string stderr) => stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static void AssertReadable(string stderr)
    {
        Assert.DoesNotMatch(ResourceKey(), stderr);
        // Every line is a log line (timestamp first) or one of the process's own lines: no continuation lines.
        Assert.All(Lines(stderr), l => Assert.Matches(@"^(\d{4}-\d\d-\d\dT|device-plugin: )", l));
    }

    [Fact]
    public async Task A_missing_nvml_library_is_one_line_naming_the_path_and_the_os_error()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: a.com/gpu\n    source: nvml\n");
        var library = dir.Combine("missing", "libnvidia-ml.so.1");

        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Path, "--nvml-library", library,
            "--metrics-address=", "--pod-resources-socket="]);

        Assert.Equal(1, code);
        AssertReadable(stderr);
        var line = Assert.Single(Lines(stderr), l => l.StartsWith("device-plugin: ", StringComparison.Ordinal));
        Assert.Equal($"device-plugin: NVML library {library} could not be loaded (is the NVIDIA driver installed and --nvml-library right?): "
            + $"{library}: cannot open shared object file: No such file or directory (--fail-on-init-error is true)", line);
    }

    [Theory]
    [InlineData("missing.yaml", "No such file or directory")]
    [InlineData(".", "is a directory, not a regular file")]
    public async Task An_unreadable_config_file_is_one_line_naming_the_path_and_why(string name, string why)
    {
        using var dir = new TempDirectory();
        var config = Path.GetFullPath(dir.Combine(name));

        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Path, "--metrics-address="]);

        Assert.Equal(2, code);
        AssertReadable(stderr);
        var line = Assert.Single(Lines(stderr));
        Assert.Contains(config, line, StringComparison.Ordinal);
        Assert.Contains(why, line, StringComparison.Ordinal);
    }
}
