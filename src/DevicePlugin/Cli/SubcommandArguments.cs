using System.Runtime.InteropServices;

namespace DevicePlugin.Cli;

/// <summary>One argument of a subcommand: the flag, its value (for a boolean only an inline <c>=value</c>), or the problem that ends the reading.</summary>
public readonly record struct SubcommandArgument(string Flag, string? Value, string? Problem);

/// <summary>
/// What the <c>kubelet-emulator</c> and <c>conformance</c> subcommands share: their argument form (<c>--flag value</c>,
/// <c>--flag=value</c>, booleans as <c>--flag</c> or <c>--flag=VALUE</c> and never taking the next word, <c>--help</c>
/// or <c>-h</c>) and running until SIGTERM or SIGINT. Each command says what its values mean.
/// </summary>
public static class SubcommandArguments
{
    /// <summary>
    /// The arguments in order, read lazily so that a command reports the first problem on the command line, its own
    /// (a bad value) or one found here (an unknown argument, a missing value), whichever comes first. <c>--help</c> and a
    /// problem end the reading.
    /// </summary>
    public static IEnumerable<SubcommandArgument> Read(IReadOnlyList<string> args, IReadOnlyCollection<string> valueFlags, IReadOnlyCollection<string> boolFlags)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            if (arg is "--help" or "-h")
            {
                yield return new("--help", null, null);
                yield break;
            }

            if (boolFlags.Contains(arg))
            {
                yield return new(arg, inline, null);
                continue;
            }

            if (!valueFlags.Contains(arg))
            {
                yield return new(arg, null, $"unknown argument \"{args[i]}\" (see --help)");
                yield break;
            }

            var value = inline ?? (i + 1 < args.Count ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
            {
                yield return new(arg, null, $"{arg} needs a value");
                yield break;
            }

            yield return new(arg, value, null);
        }
    }

    /// <summary>Runs <paramref name="run"/> with a token that SIGTERM or SIGINT cancels (instead of ending the process).</summary>
    public static async Task<int> RunUntilSignalAsync(Func<CancellationToken, Task<int>> run)
    {
        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        return await run(stop.Token);
    }
}
