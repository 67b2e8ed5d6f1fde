using System.Collections;
using DevicePlugin.Cli;

namespace DevicePlugin.Tests.Cli;

public sealed class CommandLineTests
{
    private static CommandLineResult Parse(string[] args, Hashtable? env = null) => CommandLine.Parse(args, env ?? new Hashtable());

    [Fact]
    public void Defaults_match_the_interface()
    {
        var o = Parse([]).Options;
        Assert.Equal("/var/lib/kubelet/device-plugins", o.KubeletDirectory);
        Assert.Null(o.ConfigPath);
        Assert.Equal("/sys", o.SysfsRoot);
        Assert.Equal("/dev", o.DevRoot);
        Assert.Equal("libnvidia-ml.so.1", o.NvmlLibrary);
        Assert.Equal("/proc", o.ProcRoot);
        Assert.Null(o.DriverRoot);
        Assert.True(o.FailOnInitError);
        Assert.Equal(LogFormat.Text, o.LogFormat);
    }

    [Fact]
    public void Both_flag_forms_work_and_a_flag_beats_its_environment_variable()
    {
        var env = new Hashtable { ["DP_KUBELET_DIR"] = "/env/dir", ["DP_SYSFS_ROOT"] = "/env/sys", ["DP_FAIL_ON_INIT_ERROR"] = "false" };
        var o = Parse(["--kubelet-dir", "/flag/dir", "--config=/c.yaml", "--log-format", "json"], env).Options;
        Assert.Equal("/flag/dir", o.KubeletDirectory);
        Assert.Equal("/env/sys", o.SysfsRoot);
        Assert.Equal("/c.yaml", o.ConfigPath);
        Assert.False(o.FailOnInitError);
        Assert.Equal(LogFormat.Json, o.LogFormat);
    }

    [Fact]
    public void Driver_root_comes_from_the_flag_or_dp_driver_root_and_is_listed_in_help()
    {
        Assert.Equal("/driver-root", Parse(["--driver-root", "/driver-root"]).Options.DriverRoot);
        Assert.Equal("/run/nvidia/driver", Parse([], new Hashtable { ["DP_DRIVER_ROOT"] = "/run/nvidia/driver" }).Options.DriverRoot);
        Assert.Equal("/flag", Parse(["--driver-root=/flag"], new Hashtable { ["DP_DRIVER_ROOT"] = "/env" }).Options.DriverRoot);
        Assert.Null(Parse(["--driver-root="]).Options.DriverRoot);
        Assert.Contains("--driver-root DIR", CommandLine.Usage(), StringComparison.Ordinal);
        Assert.Contains("DP_DRIVER_ROOT", CommandLine.Usage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--fail-on-init-error" }, true)]
    [InlineData(new[] { "--fail-on-init-error=false" }, false)]
    [InlineData(new[] { "--fail-on-init-error=true" }, true)]
    [InlineData(new[] { "--fail-on-init-error", "false" }, false)]
    public void Booleans_take_the_bare_and_valued_forms(string[] args, bool expected)
    {
        var env = new Hashtable { ["DP_FAIL_ON_INIT_ERROR"] = expected ? "false" : "true" };
        Assert.Equal(expected, Parse(args, env).Options.FailOnInitError);
    }

    [Theory]
    [InlineData(new[] { "--bogus" }, "unknown flag --bogus")]
    [InlineData(new[] { "--kubelet-dir" }, "--kubelet-dir needs a value")]
    [InlineData(new[] { "--log-format", "xml" }, "--log-format: \"xml\" is not text or json")]
    [InlineData(new[] { "--fail-on-init-error=maybe" }, "--fail-on-init-error: \"maybe\" is not true or false")]
    [InlineData(new[] { "--fail-on-init-error", "maybe" }, "--fail-on-init-error: \"maybe\" is not true or false")]
    [InlineData(new[] { "--metrics-address", "nowhere" }, "--metrics-address")]
    [InlineData(new[] { "--metrics-address", "metrics.example:9410" }, "the host must be an IP address or localhost")]
    [InlineData(new[] { "stray" }, "unexpected argument \"stray\"")]
    [InlineData(new[] { "--kubelet-dir", "device-plugins" }, "--kubelet-dir: must be an absolute path, not \"device-plugins\"")]
    [InlineData(new[] { "--kubelet-dir=./k" }, "--kubelet-dir: must be an absolute path")]
    public void Bad_flags_are_errors_that_name_the_flag(string[] args, string message)
    {
        var result = Parse(args);
        Assert.NotNull(result.Error);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Pod_resources_socket_and_nfd_features_file_come_from_flags_or_variables_and_empty_turns_them_off()
    {
        var defaults = Parse([]).Options;
        Assert.Equal("/var/lib/kubelet/pod-resources/kubelet.sock", defaults.PodResourcesSocket);
        Assert.Null(defaults.NfdFeaturesFile);

        var fromEnv = Parse([], new Hashtable { ["DP_POD_RESOURCES_SOCKET"] = "/run/pr.sock", ["DP_NFD_FEATURES_FILE"] = "/etc/nfd/features.d/dp" }).Options;
        Assert.Equal(("/run/pr.sock", "/etc/nfd/features.d/dp"), (fromEnv.PodResourcesSocket, fromEnv.NfdFeaturesFile));

        var flagsWin = Parse(["--pod-resources-socket=", "--nfd-features-file", "/x/f"], new Hashtable { ["DP_POD_RESOURCES_SOCKET"] = "/run/pr.sock" }).Options;
        Assert.Equal(("", "/x/f"), (flagsWin.PodResourcesSocket, flagsWin.NfdFeaturesFile));
        Assert.Null(Parse(["--nfd-features-file="]).Options.NfdFeaturesFile);
    }

    [Fact]
    public void A_bad_environment_variable_names_the_variable()
    {
        var result = Parse([], new Hashtable { ["DP_LOG_FORMAT"] = "yaml" });
        Assert.StartsWith("DP_LOG_FORMAT:", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_every_flag_with_its_variable()
    {
        Assert.True(Parse(["--help"]).Help);
        var usage = CommandLine.Usage();
        foreach (var flag in new[] { "kubelet-dir", "config", "sysfs-root", "dev-root", "nvml-library", "metrics-address", "fail-on-init-error", "log-format", "pod-resources-socket", "nfd-features-file" })
        {
            Assert.Contains("--" + flag, usage, StringComparison.Ordinal);
            Assert.Contains(CommandLine.EnvironmentName(flag), usage, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("127.0.0.1:9410", true)]
    [InlineData(":9410", true)]
    [InlineData("[::1]:80", true)]
    [InlineData("localhost:0", true)]
    [InlineData("host", false)]
    [InlineData("1.2.3.4:99999", false)]
    public void Metrics_addresses_parse(string text, bool ok) =>
        Assert.Equal(ok, global::DevicePlugin.Metrics.MetricsEndpoint.TryParseAddress(text, out _));

    [Fact]
    public void Proc_root_is_a_flag_with_its_environment_variable_and_help()
    {
        Assert.Equal("/env/proc", Parse([], new Hashtable { ["DP_PROC_ROOT"] = "/env/proc" }).Options.ProcRoot);
        Assert.Equal("/flag/proc", Parse(["--proc-root=/flag/proc"], new Hashtable { ["DP_PROC_ROOT"] = "/env/proc" }).Options.ProcRoot);
        Assert.Contains("--proc-root: must not be empty", Parse(["--proc-root="]).Error, StringComparison.Ordinal);
        Assert.Contains("--proc-root DIR", CommandLine.Usage(), StringComparison.Ordinal);
        Assert.Contains("DP_PROC_ROOT", CommandLine.Usage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--bogus", "--log-format", "json" }, null, LogFormat.Json)]
    [InlineData(new[] { "--log-format=json", "stray" }, null, LogFormat.Json)]
    [InlineData(new[] { "--fail-on-init-error", "maybe" }, "json", LogFormat.Json)]
    [InlineData(new[] { "--log-format", "xml" }, "json", LogFormat.Json)]
    [InlineData(new[] { "--log-format", "text" }, "json", LogFormat.Text)]
    [InlineData(new[] { "--log-format", "json", "--log-format", "xml" }, null, LogFormat.Json)]
    [InlineData(new[] { "--log-format", "xml" }, null, LogFormat.Text)]
    [InlineData(new[] { "--config", "--log-format", "json" }, null, LogFormat.Text)]
    [InlineData(new[] { "--fail-on-init-error", "--log-format", "json" }, null, LogFormat.Json)]
    [InlineData(new[] { "--log-format" }, "json", LogFormat.Json)]
    public void The_log_format_is_known_even_when_the_command_line_is_bad(string[] args, string? environment, LogFormat expected)
    {
        var env = new Hashtable();
        if (environment is not null)
        {
            env["DP_LOG_FORMAT"] = environment;
        }

        Assert.Equal(expected, CommandLine.KnownLogFormat(args, env));
    }
}
