using System.Diagnostics;
using System.Text;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>The built <c>device-plugin</c> executable run as a child process, with its output captured.</summary>
public sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    /// <param name="workingDirectory">the process's working directory (default: the test's)</param>
    /// <param name="umask">when set, the process starts under this umask (through <c>sh -c 'umask …; exec …'</c>, same pid)</param>
    /// <param name="executable">another executable than the built daemon (the published native one, or a shell that execs it)</param>
    /// <param name="openFileLimit">when set, the process starts with this open-file limit (<c>ulimit -n</c>, same pid)</param>
    public DaemonProcess(IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null, string? umask = null,
        string? executable = null, int? openFileLimit = null)
    {
        executable ??= ExecutablePath;
        var prelude = string.Concat(
            umask is null ? "" : $"umask {umask} && ",
            openFileLimit is { } n ? $"ulimit -n {n} && " : "");
        var info = new ProcessStartInfo(prelude.Length == 0 ? executable : "/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }

        if (prelude.Length > 0)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(prelude + "exec \"$0\" \"$@\"");
            info.ArgumentList.Add(executable);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // Keep the test host's DP_* variables out, then add the test's own.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DP_", StringComparison.Ordinal)).ToArray())
        {
            info.Environment.Remove(key);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "device-plugin");

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(
        IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        using var p = new DaemonProcess(args, environment, workingDirectory);
        var code = await p.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(30));
        return (code, p.Stdout, p.Stderr);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // flush the redirected streams
        return _process.ExitCode;
    }

    public void Signal(int signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
