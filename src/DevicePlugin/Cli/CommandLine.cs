using System.Collections;
using DevicePlugin.Metrics;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Cli;

/// <summary>What the command line asked for.</summary>
public sealed record CommandLineResult(DaemonOptions Options, bool Help, string? Error);

/// <summary>
/// Parses the daemon's flags. Every flag also reads <c>DP_</c> + its name in upper snake case; a flag beats its
/// variable. <c>--flag value</c> and <c>--flag=value</c>; booleans take <c>--flag</c>, <c>--flag=true|false</c>.
/// </summary>
public static class CommandLine
{
    private sealed record Flag(string Name, string Meta, string Default, string Help, bool IsBool, Func<DaemonOptions, string, (DaemonOptions?, string?)> Apply);

    private static readonly Flag[] Flags =
    [
        new("kubelet-dir", "DIR", DaemonOptions.DefaultKubeletDirectory, "holds the kubelet's kubelet.sock; the plugin creates its own sockets here", false,
            (o, v) => v.Length == 0 ? (null, "must not be empty")
                : !Path.IsPathFullyQualified(v) ? (null, $"must be an absolute path, not \"{v}\" (the kubelet registers endpoints inside an absolute directory)")
                : (o with { KubeletDirectory = v }, null)),
        new("config", "FILE", "none", "YAML configuration; watched, and a change is applied without a restart", false,
            (o, v) => (o with { ConfigPath = v.Length == 0 ? null : v }, null)),
        new("sysfs-root", "DIR", HostPathDefaults.SysfsRoot, "where sysfs is read", false,
            (o, v) => v.Length == 0 ? (null, "must not be empty") : (o with { SysfsRoot = v }, null)),
        new("dev-root", "DIR", HostPathDefaults.DevRoot, "where device nodes are looked for; paths handed to the kubelet stay under /dev", false,
            (o, v) => v.Length == 0 ? (null, "must not be empty") : (o with { DevRoot = v }, null)),
        new("nvml-library", "PATH", NvmlSourceOptions.DefaultLibraryPath, "the NVML shared library to load", false,
            (o, v) => v.Length == 0 ? (null, "must not be empty") : (o with { NvmlLibrary = v }, null)),
        new("proc-root", "DIR", HostPathDefaults.ProcRoot, "where /proc/driver/nvidia-caps/mig-minors and /proc/driver/nvidia/capabilities/ are read (MIG)", false,
            (o, v) => v.Length == 0 ? (null, "must not be empty") : (o with { ProcRoot = v }, null)),
        new("driver-root", "DIR", "none", "a host driver tree mounted into the container (/ or /run/nvidia/driver on the host): "
            + "libnvidia-ml.so.1 is loaded from the first of DIR/usr/lib64, DIR/usr/lib/<arch>-linux-gnu, DIR/lib64, "
            + "DIR/lib/<arch>-linux-gnu holding it, unless --nvml-library names a path", false,
            (o, v) => (o with { DriverRoot = v.Length == 0 ? null : v }, null)),
        new("metrics-address", "HOST:PORT", DaemonOptions.DefaultMetricsAddress, "serves /metrics, /healthz and /readyz; empty turns it off", false,
            (o, v) => v.Length == 0 || MetricsEndpoint.TryParseAddress(v, out _)
                ? (o with { MetricsAddress = v }, null)
                : (null, $"\"{v}\" is not HOST:PORT; the host must be an IP address or localhost, no other name is resolved (for example 127.0.0.1:9410 or :9410)")),
        new("fail-on-init-error", "BOOL", "true", "exit 1 when a configured source cannot start; false: log it and serve what did start", true,
            (o, v) => ParseBool(v) is { } b ? (o with { FailOnInitError = b }, null) : (null, $"\"{v}\" is not true or false")),
        new("pod-resources-socket", "PATH", DaemonOptions.DefaultPodResourcesSocket,
            "the kubelet's PodResources v1 socket: metrics name the namespace, pod and container on each device while it answers; absent is no error; empty turns it off", false,
            (o, v) => (o with { PodResourcesSocket = v }, null)),
        new("nfd-features-file", "PATH", "none",
            "write Node Feature Discovery labels for the node's devices to this file (atomically), keep it current, delete it at shutdown", false,
            (o, v) => (o with { NfdFeaturesFile = v.Length == 0 ? null : v }, null)),
        new("log-format", "text|json", "text", "log lines on stderr", false,
            (o, v) => ParseLogFormat(v) is { } format ? (o with { LogFormat = format }, null) : (null, $"\"{v}\" is not text or json")),
    ];

    public static string EnvironmentName(string flag) => "DP_" + flag.Replace('-', '_').ToUpperInvariant();

    public static CommandLineResult Parse(IReadOnlyList<string> args, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var options = new DaemonOptions();

        // Environment first, so that flags win.
        foreach (var flag in Flags)
        {
            if (environment[EnvironmentName(flag.Name)] is string value)
            {
                var (next, error) = flag.Apply(options, value);
                if (error is not null)
                {
                    return new(options, false, $"{EnvironmentName(flag.Name)}: {error}");
                }

                options = next!;
            }
        }

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                return new(options, true, null);
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                return new(options, false, $"unexpected argument \"{arg}\" (flags start with --; see --help)");
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg[2..] : arg[2..eq];
            var flag = Array.Find(Flags, f => f.Name == name);
            if (flag is null)
            {
                return new(options, false, $"unknown flag --{name} (see --help)");
            }

            string value;
            if (eq >= 0)
            {
                value = arg[(eq + 1)..];
            }
            else if (flag.IsBool)
            {
                // A bare boolean flag means true; `--flag false` is accepted too. The daemon takes no positional
                // argument, so a word after a boolean flag is its value, and a wrong one is named as such.
                value = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                return new(options, false, $"flag --{name} needs a value ({flag.Meta})");
            }

            var (next, error) = flag.Apply(options, value);
            if (error is not null)
            {
                return new(options, false, $"--{name}: {error}");
            }

            options = next!;
        }

        return new(options, false, null);
    }

    /// <summary>
    /// The log format asked for, read even when the command line is bad so that the error about it comes in that
    /// format (<c>--log-format json</c> may follow the bad flag, or come from <c>DP_LOG_FORMAT</c>): the last valid
    /// <c>--log-format</c>, else a valid <c>DP_LOG_FORMAT</c>, else text. Words are taken as <see cref="Parse"/>
    /// takes them, so a value of another flag is never read as a format.
    /// </summary>
    public static LogFormat KnownLogFormat(IReadOnlyList<string> args, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        const string name = "log-format";
        var known = ParseLogFormat(environment[EnvironmentName(name)] as string);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var flag = Array.Find(Flags, f => f.Name == (eq < 0 ? arg[2..] : arg[2..eq]));
            string? value;
            if (eq >= 0)
            {
                value = arg[(eq + 1)..];
            }
            else if (flag is null)
            {
                // An unknown flag: whether it takes a value is unknown, so the next word is read on its own.
                continue;
            }
            else if (flag.IsBool)
            {
                i += i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? 1 : 0;
                continue;
            }
            else
            {
                value = i + 1 < args.Count ? args[++i] : null;
            }

            if (flag?.Name == name && ParseLogFormat(value) is { } format)
            {
                known = format;
            }
        }

        return known ?? LogFormat.Text;
    }

    private static LogFormat? ParseLogFormat(string? v) => v switch
    {
        "text" => LogFormat.Text,
        "json" => LogFormat.Json,
        _ => null,
    };

    private static bool? ParseBool(string v) => v switch
    {
        "true" or "True" or "TRUE" or "1" => true,
        "false" or "False" or "FALSE" or "0" => false,
        _ => null,
    };

    public static string Usage()
    {
        var lines = new List<string>
        {
            "device-plugin: a Kubernetes device plugin for GPUs (NVML), FPGAs and other PCI accelerators (sysfs).",
            "",
            "Usage:",
            "  device-plugin [flags]                 run the daemon in the foreground",
            "  device-plugin demo [--verbose]        a simulated node against the built-in kubelet emulator",
            "  device-plugin kubelet-emulator --kubelet-dir DIR [--script FILE] [--output text|json] ...",
            "                                        run only the kubelet emulator: print what plugins send, run",
            "                                        a script of steps (kubelet-emulator --help)",
            "  device-plugin conformance --kubelet-dir DIR [--junit FILE] [--disruptive] ...",
            "                                        check any device plugin against the kubelet's contract",
            "                                        (conformance --help)",
            "",
            "Flags (each also read from the environment variable shown):",
        };
        foreach (var f in Flags)
        {
            lines.Add($"  --{f.Name} {f.Meta}");
            lines.Add($"      {f.Help} (default {f.Default}; {EnvironmentName(f.Name)})");
        }

        lines.Add("");
        lines.Add("Exit status: 0 after SIGTERM/SIGINT, 2 for a bad flag or config file, 1 when a source cannot start");
        lines.Add("or the metrics address cannot be bound and --fail-on-init-error is true, 70 after an exception nothing caught.");
        return string.Join('\n', lines);
    }
}
