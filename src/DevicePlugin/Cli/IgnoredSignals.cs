using System.Runtime.InteropServices;

namespace DevicePlugin.Cli;

/// <summary>
/// Undoes an inherited "ignore" of SIGINT before the daemon's own handler is registered. A non-interactive shell
/// starts its background jobs (<c>device-plugin … &amp;</c>) with SIGINT ignored, and the .NET runtime leaves an
/// ignored SIGINT ignored even when a <see cref="PosixSignalRegistration"/> asks for it, so such a daemon never saw
/// the SIGINT that INTERFACE.md says stops it with exit 0. The default disposition lets the registration take the
/// signal, as Go's <c>signal.Notify</c> does for a program started with SIGINT ignored.
/// </summary>
internal static partial class IgnoredSignals
{
    private const int SigInt = 2;
    private const nint SigDfl = 0;
    private const nint SigIgn = 1;

    /// <summary>SIGINT back to its default disposition when it was inherited as ignored; call before registering for it.</summary>
    public static unsafe void UnignoreSigInt()
    {
        // Read the disposition without changing it: glibc's struct sigaction starts with the handler, and 256 bytes
        // hold the whole struct on every Linux architecture. Only an ignored SIGINT is touched.
        var current = stackalloc byte[256];
        if (sigaction(SigInt, null, current) == 0 && *(nint*)current == SigIgn)
        {
            signal(SigInt, SigDfl);
        }
    }

    [LibraryImport("libc")]
    private static unsafe partial int sigaction(int signum, byte* action, byte* oldAction);

    [LibraryImport("libc")]
    private static partial nint signal(int signum, nint handler);
}
