using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>
/// The lines the process itself writes on stderr around the daemon: a bad command line or config file, a start-up
/// failure, a slow shutdown. As text each is one plain line <c>device-plugin: …</c>; with <c>--log-format json</c>
/// each goes through the JSON logger, so it is one object with the fields of every other line.
/// </summary>
internal sealed class ProcessMessages(LogFormat format, ILogger logger)
{
    public void CommandLineRefused(string problem)
    {
        if (format == LogFormat.Json)
        {
            DaemonLog.CommandLineRefused(logger, problem);
        }
        else
        {
            Console.Error.WriteLine($"device-plugin: {problem}");
        }
    }

    public void ConfigRefused(string problem)
    {
        if (format == LogFormat.Json)
        {
            DaemonLog.ConfigFileRefused(logger, problem);
        }
        else
        {
            Console.Error.WriteLine($"device-plugin: config error: {problem}");
        }
    }

    public void StartFailed(string problem)
    {
        if (format == LogFormat.Json)
        {
            DaemonLog.StartFailed(logger, problem);
        }
        else
        {
            Console.Error.WriteLine($"device-plugin: {problem} (--fail-on-init-error is true)");
        }
    }

    /// <summary>Another daemon holds the kubelet directory (exit 1).</summary>
    public void InstanceLocked(string problem)
    {
        if (format == LogFormat.Json)
        {
            DaemonLog.InstanceLocked(logger, problem);
        }
        else
        {
            Console.Error.WriteLine($"device-plugin: {problem}");
        }
    }

    public void SlowShutdown(int seconds)
    {
        if (format == LogFormat.Json)
        {
            DaemonLog.SlowShutdown(logger, seconds);
        }
        else
        {
            Console.Error.WriteLine($"device-plugin: shutdown took longer than {seconds} s; exiting anyway");
        }
    }
}
