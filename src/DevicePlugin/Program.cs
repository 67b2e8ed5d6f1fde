using System.Runtime.InteropServices;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Demo;
using DevicePlugin.Kubelet;
using DevicePlugin.Sources;
using Microsoft.Extensions.Logging;

namespace DevicePlugin;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "demo")
        {
            return await DemoCommand.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "conformance")
        {
            return await Conformance.ConformanceCommand.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "kubelet-emulator")
        {
            return await KubeletEmulatorCommand.RunAsync(args[1..]);
        }

        // First, before the flags and the config file are read: a SIGTERM or SIGINT from here on is a graceful stop (exit 0), even during start-up.
        var shutdown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            shutdown.TrySetResult();
        }

        // A SIGINT inherited as ignored (a shell's background job) is taken too, not left ignored.
        IgnoredSignals.UnignoreSigInt();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        // No collection until start-up is done (Daemon ends it): start-up's objects mostly live until registration.
        Hosting.StartupCollectionPause.Begin();

        var parsed = CommandLine.Parse(args);
        if (parsed.Help)
        {
            Console.Out.WriteLine(CommandLine.Usage());
            return 0;
        }

        // The log format is settled before anything is written to stderr, even when a flag is bad: with json, every
        // line from here on (refusals, start-up failures, an unhandled exception) is one JSON object.
        var format = parsed.Error is null ? parsed.Options.LogFormat : CommandLine.KnownLogFormat(args);
        using var loggers = Logging.Create(format);
        UnhandledExceptionLog.Install(loggers);
        var messages = new ProcessMessages(format, loggers.CreateLogger("DevicePlugin.Program"));
        if (parsed.Error is { } error)
        {
            messages.CommandLineRefused(error);
            return 2;
        }

        try
        {
            return await ServeAsync(parsed.Options, shutdown.Task, loggers, messages);
        }
        catch (Exception e)
        {
            // Logged here, while the logger factory is still open: an exception leaving Main reaches the
            // unhandled-exception handler only after the factory is disposed, and its line would be lost (exit 70, no
            // word of why).
            DaemonLog.Unhandled(loggers.CreateLogger("DevicePlugin.Program"), e, e.GetType().FullName ?? "?", e.Message);
            return UnhandledExceptionLog.ExitCode;
        }
    }

    private static async Task<int> ServeAsync(DaemonOptions options, Task shutdown, ILoggerFactory loggers, ProcessMessages messages)
    {
        PluginConfig config;
        try
        {
            config = options.ConfigPath is { } path ? DeviceSources.Schemas.LoadFile(path) : DeviceSources.DefaultConfig();
        }
        catch (ConfigException e)
        {
            messages.ConfigRefused(e.Message);
            return 2;
        }

        if (shutdown.IsCompleted)
        {
            // Told to stop before anything was started: nothing to clean up.
            return 0;
        }

        await using var daemon = new Daemon(options, config, loggers);
        try
        {
            await daemon.StartAsync();
        }
        catch (SourceInitException e)
        {
            messages.StartFailed(e.Message);
            await daemon.StopAsync();
            return 1;
        }
        catch (KubeletDirectoryLockedException e)
        {
            messages.InstanceLocked(e.Message);
            return 1;
        }

        if (await Task.WhenAny(shutdown, daemon.Fatal) == daemon.Fatal)
        {
            messages.InstanceLocked(daemon.Fatal.Result);
            await daemon.StopAsync();
            return 1;
        }

        var stop = daemon.StopAsync();
        if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(4))) != stop)
        {
            messages.SlowShutdown(4);
        }

        return 0;
    }
}
