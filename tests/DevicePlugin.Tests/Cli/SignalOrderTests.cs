using System.Runtime.InteropServices;
using System.Text;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// The SIGTERM and SIGINT handlers are the first thing the daemon installs: a stop requested while the flags and the
/// config file are still being read is a graceful exit 0, not the default action's 143.
/// </summary>
public sealed partial class SignalOrderTests
{
    private const int SigTerm = 15;

    /// <summary>A valid config large enough that reading and parsing it takes a while (one resource, 4,000 devices).</summary>
    private static string LargeConfig()
    {
        var yaml = new StringBuilder("resources:\n  - name: example.com/gpu\n    source: simulated\n    devices:\n");
        for (var i = 0; i < 4000; i++)
        {
            yaml.Append("      - id: sim-").Append(i).Append("\n        numa: ").Append(i % 2).Append('\n');
        }

        return yaml.ToString();
    }

    [Fact]
    public async Task A_SIGTERM_the_moment_the_config_file_is_opened_is_a_graceful_stop()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("device-plugins");
        Directory.CreateDirectory(kubeletDir);
        var configDir = dir.Combine("config");
        Directory.CreateDirectory(configDir);
        var config = Path.Combine(configDir, "config.yaml");
        await File.WriteAllTextAsync(config, LargeConfig());

        // The signal goes out from the inotify reader the moment the daemon opens its config file: before the
        // handlers were installed first, this landed while the file was parsed and the process died with 143.
        for (var run = 0; run < 3; run++)
        {
            var pid = 0;
            var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var watch = new Inotify(configDir, Inotify.InOpen, (name, mask) =>
            {
                int target = Volatile.Read(ref pid);
                if (name == "config.yaml" && target > 0 && sent.TrySetResult())
                {
                    _ = kill(target, SigTerm);
                }
            });
            using var daemon = new DaemonProcess(["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="]);
            Volatile.Write(ref pid, daemon.Id);

            await sent.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var exit = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.True(exit == 0, $"run {run}: exit {exit} after SIGTERM at the config file's open; stderr: {daemon.Stderr}");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
