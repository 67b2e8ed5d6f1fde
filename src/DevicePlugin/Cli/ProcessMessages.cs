using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>
/// The lines the process itself writes on stderr around the daemon: a bad command line or config file, a start-up
/// failure, a slow shutdown. As text each is one plain line <c>device-plugin: …</c>; with <c>--log-format json</c>
/// each goes through the JSON logger, so it is one object with the fields of every other line.
/// </summary>
internal sealed class ProcessMessages(LogFormat format, ILogger logger)
{
    public void CommandLineRefused(string problem) =>
        Write(l => DaemonLog.CommandLineRefused(l, problem), $"device-plugin: {problem}");

    public void ConfigRefused(string problem) =>
        Write(l => DaemonLog.ConfigFileRefused(l, problem), $"device-plugin: config error: {problem}");

    public void StartFailed(string problem) =>
        Write(l => DaemonLog.StartFailed(l, problem), $"device-plugin: {problem} (--fail-on-init-error is true)");

    /// <summary>Another daemon holds the kubelet directory (exit 1).</summary>
    public void InstanceLocked(string problem) =>
        Write(l => DaemonLog.InstanceLocked(l, problem), $"device-plugin: {problem}");

    public void SlowShutdown(int seconds) =>
        Write(l => DaemonLog.SlowShutdown(l, seconds), $"device-plugin: shutdown took longer than {seconds} s; exiting anyway");

    /// <summary>One line: through the JSON logger in json mode, else as the plain text.</summary>
    private void Write(Action<ILogger> json, string text)
    {
        if (format == LogFormat.Json)
        {
            json(logger);
        }
        else
        {
            Console.Error.WriteLine(text);
        }
    }
}
