using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cli;

/// <summary>The real executable: exit codes, stderr lines, signals.</summary>
public sealed class ProcessTests
{
    private const int SigTerm = 15;
    private const int SigInt = 2;

    /// <summary>The demo waits for the daemon's next PodResources poll (10 s) before it shows the pod in /metrics.</summary>
    private static readonly TimeSpan DemoTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Help_exits_zero_and_lists_the_flags()
    {
        var (code, stdout, _) = await DaemonProcess.RunAsync(["--help"]);
        Assert.Equal(0, code);
        Assert.Contains("--kubelet-dir", stdout, StringComparison.Ordinal);
        Assert.Contains("DP_KUBELET_DIR", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_flag_exits_two_with_one_line_naming_it()
    {
        var (code, _, stderr) = await DaemonProcess.RunAsync(["--kubelet-dirr", "/tmp"]);
        Assert.Equal(2, code);
        Assert.Equal("device-plugin: unknown flag --kubelet-dirr (see --help)", stderr.Trim());
    }

    [Fact]
    public async Task A_relative_kubelet_directory_exits_two_naming_it()
    {
        var (code, _, stderr) = await DaemonProcess.RunAsync(["--kubelet-dir", "device-plugins", "--metrics-address="]);
        Assert.Equal(2, code);
        Assert.Equal("device-plugin: --kubelet-dir: must be an absolute path, not \"device-plugins\" (the kubelet registers endpoints inside an absolute directory)", stderr.Trim());
    }

    [Fact]
    public async Task A_bad_environment_variable_exits_two_naming_it()
    {
        var (code, _, stderr) = await DaemonProcess.RunAsync([], new Dictionary<string, string> { ["DP_LOG_FORMAT"] = "xml" });
        Assert.Equal(2, code);
        Assert.Contains("DP_LOG_FORMAT", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_config_file_exits_two_with_one_line_naming_file_line_and_key()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: a.com/x\n    source: simulated\n    replicas: 0\n");
        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Combine("k")]);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"device-plugin: config error: {config}:4: resources[0].replicas: ", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SigTerm)]
    [InlineData(SigInt)]
    public async Task A_signal_stops_it_cleanly_with_exit_zero_and_removes_its_sockets(int signal)
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);

        // Flags through the environment, as the DaemonSet sets them.
        using var daemon = new DaemonProcess([], new Dictionary<string, string>
        {
            ["DP_KUBELET_DIR"] = kubeletDir,
            ["DP_CONFIG"] = config,
            ["DP_METRICS_ADDRESS"] = "",
            ["DP_LOG_FORMAT"] = "json",
        });
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        var socket = Path.Combine(kubeletDir, plugin.Endpoint);
        Assert.True(File.Exists(socket));

        daemon.Signal(signal);
        var code = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, code);
        Assert.False(File.Exists(socket));
        Assert.Contains("\"Message\":", daemon.Stderr, StringComparison.Ordinal);
        await plugin.WaitForStreamEndAsync(PluginNode.Wait);
    }

    [Fact]
    public async Task SIGINT_stops_it_with_exit_zero_also_when_started_with_SIGINT_ignored()
    {
        // A non-interactive shell starts a background job (`device-plugin ... &`) with SIGINT ignored; the ignore is
        // inherited through exec. The daemon must still stop on SIGINT, as INTERFACE.md says.
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);

        using var daemon = new DaemonProcess(
            ["-c", "trap '' INT; exec \"$0\" \"$@\"", DaemonProcess.ExecutablePath, "--kubelet-dir", kubeletDir, "--config", config, "--metrics-address="],
            executable: "/bin/sh");
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
        var socket = Path.Combine(kubeletDir, plugin.Endpoint);

        daemon.Signal(SigInt);
        int? code = null;
        try
        {
            code = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        catch (OperationCanceledException)
        {
            // Still running: reported below.
        }

        Assert.True(code == 0, $"exit {code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: still running 30 s"} after SIGINT (inherited as ignored); stderr: {daemon.Stderr}");
        Assert.False(File.Exists(socket));
    }

    [Fact]
    public async Task The_demo_runs_and_narrates_each_step()
    {
        var (code, stdout, stderr) = await DaemonProcess.RunAsync(["demo"], timeout: DemoTimeout);
        Assert.True(code == 0, stderr);
        Assert.Contains("registered example.com/sim-gpu", stdout, StringComparison.Ordinal);
        Assert.Contains("prefers: sim-2, sim-3", stdout, StringComparison.Ordinal);
        Assert.Contains("SIMULATED_DEVICES=sim-2,sim-3", stdout, StringComparison.Ordinal);
        Assert.Contains("sim-2=Unhealthy", stdout, StringComparison.Ordinal);
        Assert.Contains("Demo finished", stdout, StringComparison.Ordinal);

        // The emulator serves PodResources to the daemon: /metrics names the pod on its device, and nothing warns
        // that PodResources is missing.
        Assert.Matches(@"device_plugin_device_allocation\{resource=""example\.com/sim-gpu"",device=""sim-\d"",namespace=""ml"",pod=""trainer"",container=""main""\} 1", stdout);
        Assert.DoesNotContain("PodResources", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_nvml_and_fail_on_init_error_false_readyz_is_503_naming_nvml_and_the_metrics_count_the_failure()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: nvidia.com/gpu\n    source: nvml\n");
        using var daemon = new DaemonProcess(
            ["--config", config, "--kubelet-dir", dir.Combine("k"), "--metrics-address", "127.0.0.1:0", "--fail-on-init-error=false",
             "--nvml-library", dir.Combine("absent/libnvidia-ml.so.1")]);
        await Eventually.TrueAsync(() => daemon.Stderr.Contains("source nvml failed", StringComparison.Ordinal) || daemon.Stderr.Contains("cannot start", StringComparison.Ordinal),
            "the daemon logs the nvml failure");
        var match = System.Text.RegularExpressions.Regex.Match(daemon.Stderr, @"/readyz on (http://127\.0\.0\.1:\d+/?)");
        Assert.True(match.Success, daemon.Stderr);
        var address = new Uri(match.Groups[1].Value);
        using var http = new HttpClient();

        using var readyz = await http.GetAsync(new Uri(address, "/readyz"));
        var body = await readyz.Content.ReadAsStringAsync();
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, readyz.StatusCode);
        Assert.Contains("source nvml failed: ", body, StringComparison.Ordinal);
        var metrics = PrometheusText.Parse(await http.GetStringAsync(new Uri(address, "/metrics")));
        Assert.Equal(1, metrics.Of("device_plugin_source_init_failures_total", ("source", "nvml")).Single().Value);
        Assert.Equal(0, metrics.Of("device_plugin_source_up", ("source", "nvml")).Single().Value);

        daemon.Signal(SigTerm);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task The_working_directory_is_not_read_for_settings_files()
    {
        // In a container the working directory is /: a host builder reading (and watching) appsettings.json there
        // would walk the mounted /sys and /dev. A broken appsettings.json proves nothing reads it.
        using var dir = new TempDirectory();
        var cwd = dir.Combine("cwd");
        Directory.CreateDirectory(cwd);
        await File.WriteAllTextAsync(Path.Combine(cwd, "appsettings.json"), "{ this is not json");
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated());
        var kubeletDir = dir.Combine("k");
        await using var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();

        using var daemon = new DaemonProcess(["--config", config, "--kubelet-dir", kubeletDir, "--metrics-address", "127.0.0.1:0"], workingDirectory: cwd);
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        daemon.Signal(SigTerm);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("metrics, /healthz and /readyz on http://127.0.0.1:", daemon.Stderr, StringComparison.Ordinal);

        var (code, stdout, stderr) = await DaemonProcess.RunAsync(["demo"], workingDirectory: cwd, timeout: DemoTimeout);
        Assert.True(code == 0, stderr);
        Assert.Contains("Demo finished", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_address_in_use_exits_one_naming_it_or_is_skipped_when_told_to_serve_what_it_can()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var address = $"127.0.0.1:{((System.Net.IPEndPoint)busy.LocalEndpoint).Port}";
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated());
        string[] args = ["--config", config, "--kubelet-dir", dir.Combine("k"), "--metrics-address", address];

        var (code, _, stderr) = await DaemonProcess.RunAsync(args);
        Assert.Equal(1, code);
        Assert.Contains($"cannot serve metrics on --metrics-address {address}", stderr, StringComparison.Ordinal);

        await using var kubelet = new EmulatedKubelet(dir.Combine("k"));
        await kubelet.StartAsync();
        using var degraded = new DaemonProcess([.. args, "--fail-on-init-error=false"]);
        var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, PluginNode.Wait);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        degraded.Signal(SigTerm);
        Assert.Equal(0, await degraded.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_metrics_address_on_no_interface_of_this_host_exits_one_with_one_line_and_no_stack_trace()
    {
        // 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails at once ("cannot assign requested address")
        // and nothing is sent. Such an error is not "address in use" and used to abort the process with a trace.
        const string address = "192.0.2.1:9410";
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated());
        string[] args = ["--config", config, "--kubelet-dir", dir.Combine("k"), "--metrics-address", address];

        var (code, _, stderr) = await DaemonProcess.RunAsync(args);
        Assert.Equal(1, code);
        Assert.Contains($"cannot serve metrics on --metrics-address {address}", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_address_another_daemon_serves_exits_one_instead_of_sharing_the_port()
    {
        // Two daemons on two kubelet directories, one metrics address: the second must not bind it too (with
        // SO_REUSEPORT the kernel would spread the scrapes over both processes).
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Configs.Simulated());
        using var first = new DaemonProcess(["--config", config, "--kubelet-dir", dir.Combine("k1"), "--metrics-address", "127.0.0.1:0", "--pod-resources-socket="]);
        string? address = null;
        await Eventually.TrueAsync(() =>
        {
            var match = System.Text.RegularExpressions.Regex.Match(first.Stderr, @"/readyz on http://(127\.0\.0\.1:\d+)");
            address = match.Success ? match.Groups[1].Value : null;
            return address is not null;
        }, "the first daemon logs its metrics address");

        using var second = new DaemonProcess(["--config", config, "--kubelet-dir", dir.Combine("k2"), "--metrics-address", address!, "--pod-resources-socket="]);
        int? code = null;
        try
        {
            code = await second.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        catch (OperationCanceledException)
        {
            // Still running: reported below.
        }

        Assert.True(code == 1, $"second daemon on {address}: exit {code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: still running 30 s"}; stderr: {second.Stderr}");
        Assert.Contains($"cannot serve metrics on --metrics-address {address}", second.Stderr, StringComparison.Ordinal);
        Assert.False(first.HasExited);
    }

    [Fact]
    public async Task Unreadable_sysfs_for_a_pci_resource_exits_one_naming_the_path()
    {
        using var dir = new TempDirectory();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: xilinx.com/fpga\n    source: pci\n    match:\n      - vendor: \"0x10ee\"\n");
        var sysfs = dir.Combine("no-sys");
        var (code, _, stderr) = await DaemonProcess.RunAsync(["--config", config, "--kubelet-dir", dir.Combine("k"), "--sysfs-root", sysfs, "--metrics-address="]);
        Assert.Equal(1, code);
        Assert.Contains(sysfs, stderr, StringComparison.Ordinal);
    }
}
