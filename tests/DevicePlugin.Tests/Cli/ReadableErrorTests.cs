using System.Text.RegularExpressions;
using DevicePlugin.Tests.TestSupport;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// What a person reads when the config file or the NVML library cannot be used: one sentence naming the path and the
/// operating system's error, never a runtime resource key (under <c>UseSystemResourceKeys</c> the runtime's own
/// messages read <c>IO_FileNotFound_FileName, /x.yaml</c>). Each case runs on the built daemon and, where
/// <c>DEVICE_PLUGIN_NATIVE</c> names it (CI publishes first and sets it), on the published Native AOT executable,
/// whose build settings are the ones that decide what the runtime's messages look like.
/// </summary>
public sealed partial class ReadableErrorTests(ITestOutputHelper output)
{
    public static TheoryData<string> Executables()
    {
        var data = new TheoryData<string> { "built" };
        if (Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE") is { Length: > 0 } native && File.Exists(native))
        {
            data.Add("native");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Executables))]
    public async Task A_missing_config_file_is_named_with_no_such_file_or_directory(string executable)
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("absent/x.yaml");

        var (code, stderr) = await RunAsync(executable, ["--config", config, "--kubelet-dir", dir.Combine("k")]);

        Assert.Equal(2, code);
        AssertReadable(stderr, config, "No such file or directory (ENOENT)");
    }

    [Theory]
    [MemberData(nameof(Executables))]
    public async Task A_config_file_that_may_not_be_read_is_named_with_permission_denied(string executable)
    {
        using var dir = new TempDirectory();
        string config;
        if (IsRoot())
        {
            // Root reads any mode-000 file; procfs refuses reading this write-only file even to root (EACCES at open).
            config = "/proc/sys/vm/drop_caches";
            Assert.True(File.Exists(config), "procfs is mounted");
        }
        else
        {
            config = dir.Combine("c.yaml");
            await File.WriteAllTextAsync(config, "resources: []\n");
            File.SetUnixFileMode(config, UnixFileMode.None);
        }

        var (code, stderr) = await RunAsync(executable, ["--config", config, "--kubelet-dir", dir.Combine("k")]);

        Assert.Equal(2, code);
        AssertReadable(stderr, config, "Permission denied (EACCES)");
    }

    [Theory]
    [MemberData(nameof(Executables))]
    public async Task A_missing_nvml_library_is_named_with_the_loaders_error_on_one_line(string executable)
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: nvidia.com/gpu\n    source: nvml\n");
        var library = dir.Combine("absent/libnvidia-ml.so.1");

        var (code, stderr) = await RunAsync(executable,
            ["--config", config, "--kubelet-dir", dir.Combine("k"), "--nvml-library", library, "--metrics-address="]);

        Assert.Equal(1, code);
        AssertReadable(stderr, library, "No such file or directory");
        // The loader's reason is inside the sentence, not on lines of its own.
        Assert.DoesNotContain(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.TrimStart().StartsWith(library, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Executables))]
    public async Task An_nvml_library_that_is_not_a_shared_object_is_named_with_the_loaders_error(string executable)
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: nvidia.com/gpu\n    source: nvml\n");
        var library = dir.Combine("libnvidia-ml.so.1");
        await File.WriteAllTextAsync(library, string.Concat(Enumerable.Repeat("not an ELF file\n", 32)));

        var (code, stderr) = await RunAsync(executable,
            ["--config", config, "--kubelet-dir", dir.Combine("k"), "--nvml-library", library, "--metrics-address="]);

        Assert.Equal(1, code);
        AssertReadable(stderr, library, "invalid ELF header");
    }

    [Theory]
    [MemberData(nameof(Executables))]
    public async Task A_kubelet_directory_too_long_for_a_socket_path_is_named_with_the_limit(string executable)
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine(new string('k', 120));
        Directory.CreateDirectory(kubeletDir);
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated());

        // The socket path is an argument the runtime checks (ArgumentOutOfRangeException); the daemon retries it.
        using var process = new DaemonProcess(["--config", config, "--kubelet-dir", kubeletDir, "--metrics-address="],
            executable: executable == "native" ? Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE") : null);
        await Eventually.TrueAsync(() => process.Stderr.Contains("failed to start serving", StringComparison.Ordinal),
            "the bind failure is logged", TimeSpan.FromSeconds(60));
        process.Signal(15);
        await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"{executable}:\n{process.Stderr}");

        AssertReadable(process.Stderr, kubeletDir, "108", lineWith: "failed to start serving");
    }

    private async Task<(int Code, string Stderr)> RunAsync(string executable, string[] args)
    {
        using var process = new DaemonProcess(args, executable: executable == "native" ? Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE") : null);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"{executable}: exit {code}\n{process.Stderr}");
        return (code, process.Stderr);
    }

    private static void AssertReadable(string stderr, string path, string osError, string? lineWith = null)
    {
        var line = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(l => l.Contains(path, StringComparison.Ordinal) && (lineWith is null || l.Contains(lineWith, StringComparison.Ordinal)));
        Assert.True(line is not null, $"no line names {path}:\n{stderr}");
        Assert.Contains(osError, line, StringComparison.Ordinal);
        var key = ResourceKey().Match(stderr);
        Assert.False(key.Success, $"a runtime resource key '{key.Value}' reached the reader:\n{stderr}");
    }

    private static bool IsRoot() => File.ReadLines("/proc/self/status")
        .FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0";

    /// <summary>A runtime resource key such as <c>IO_FileNotFound_FileName</c> or <c>Arg_ParamName_Name</c>.</summary>
    [GeneratedRegex(@"\b(?=[A-Za-z_]*[a-z])[A-Z][A-Za-z]+(_[A-Za-z]+)+\b")]
    private static partial Regex ResourceKey();
}
