using DevicePlugin.Cli;

namespace DevicePlugin.Conformance;

/// <summary>
/// <c>device-plugin conformance --kubelet-dir DIR [--resource NAME]... [--junit FILE] [--disruptive] [--host-root DIR]
/// [--timeout SECONDS]</c>: checks any device plugin against the kubelet's contract without a cluster. Exit 0 only when
/// every check passed; 1 when one failed; 2 for a bad argument.
/// </summary>
public static class ConformanceCommand
{
    public static string Usage()
    {
        var text = new System.Text.StringBuilder("""
            usage: device-plugin conformance --kubelet-dir DIR [--resource NAME]... [--junit FILE] [--disruptive]
                                             [--host-root DIR] [--timeout SECONDS]

            Plays the kubelet on DIR/kubelet.sock (the directory is created if missing, and every socket in it is
            deleted, as a kubelet does at start), waits for device plugins to register, and checks each resource
            against the kubelet's device plugin contract. Start the plugin pointed at DIR before or after this.

              --kubelet-dir DIR    the device plugin directory the plugin registers in
              --resource NAME      check this resource (repeatable); default: every resource that registers within
                                   3 s of the first
              --junit FILE         also write the results as JUnit XML
              --disruptive         also restart the kubelet (socket wipe) and check re-registration
              --host-root DIR      where host paths of device specs and mounts are looked for (default /)
              --timeout SECONDS    how long to wait for registration (default 60)

            Exit status: 0 when every check passed, 1 when a check failed, 2 for a bad argument.

            Checks:

            """);
        foreach (var (name, rule) in Checks.All)
        {
            text.Append("  ").Append(name.PadRight(38)).Append(rule).Append('\n');
        }

        return text.ToString();
    }

    private static readonly string[] ValueFlags = ["--kubelet-dir", "--resource", "--junit", "--host-root", "--timeout"];
    private static readonly string[] BoolFlags = ["--disruptive"];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        string? dir = null;
        string? junit = null;
        var hostRoot = "/";
        var disruptive = false;
        var timeout = TimeSpan.FromSeconds(60);
        var resources = new List<string>();
        foreach (var (flag, value, problem) in SubcommandArguments.Read(args, ValueFlags, BoolFlags))
        {
            if (problem is not null)
            {
                await error.WriteLineAsync($"device-plugin conformance: {problem}");
                return 2;
            }

            switch (flag)
            {
                case "--help":
                    await output.WriteAsync(Usage());
                    return 0;
                case "--disruptive":
                    if (value is not (null or "true" or "false"))
                    {
                        await error.WriteLineAsync($"device-plugin conformance: --disruptive takes true or false, not \"{value}\"");
                        return 2;
                    }

                    disruptive = value != "false";
                    break;
                case "--kubelet-dir":
                    dir = value;
                    break;
                case "--resource":
                    resources.Add(value!);
                    break;
                case "--junit":
                    junit = value;
                    break;
                case "--host-root":
                    hostRoot = value!;
                    break;
                default:
                    if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                        || seconds <= 0 || seconds > 3600)
                    {
                        await error.WriteLineAsync($"device-plugin conformance: --timeout \"{value}\" is not a number of seconds between 0 and 3600");
                        return 2;
                    }

                    timeout = TimeSpan.FromSeconds(seconds);
                    break;
            }
        }

        if (dir is null)
        {
            await error.WriteLineAsync("device-plugin conformance: --kubelet-dir DIR is required (see --help)");
            return 2;
        }

        if (junit is not null && Path.GetDirectoryName(Path.GetFullPath(junit)) is { } junitDir && !Directory.Exists(junitDir))
        {
            await error.WriteLineAsync($"device-plugin conformance: --junit {junit}: the directory {junitDir} does not exist");
            return 2;
        }

        var options = new ConformanceOptions
        {
            KubeletDirectory = Path.GetFullPath(dir),
            Resources = resources,
            Disruptive = disruptive,
            HostRoot = hostRoot,
            RegistrationTimeout = timeout,
        };
        await output.WriteLineAsync($"device-plugin conformance: playing the kubelet on {Path.Combine(options.KubeletDirectory, "kubelet.sock")}"
            + $"{(disruptive ? " (disruptive)" : "")}; waiting up to {timeout.TotalSeconds:0} s for registration");
        var report = await new ConformanceRunner(options).RunAsync(cancellationToken);
        await output.WriteAsync(report.ToText());
        if (junit is not null)
        {
            await using var file = File.Create(junit);
            await report.ToJUnit().SaveAsync(file, System.Xml.Linq.SaveOptions.None, cancellationToken);
            await output.WriteLineAsync($"JUnit XML written to {junit}");
        }

        return report.Passed ? 0 : 1;
    }

    /// <summary>The command as the executable runs it: stops on SIGINT/SIGTERM.</summary>
    public static Task<int> RunAsync(string[] args) =>
        SubcommandArguments.RunUntilSignalAsync(async stop =>
        {
            try
            {
                return await RunAsync(args, Console.Out, Console.Error, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("device-plugin conformance: interrupted");
                return 1;
            }
        });
}
