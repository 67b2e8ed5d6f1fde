using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DevicePlugin.Hosting;

/// <summary>
/// The limits every Kestrel server of the daemon runs with, in one place: the request body the kubelet's 4 MiB gRPC
/// limit allows, and at most as many concurrent connections as the open-file limit leaves room for (the daemon's own
/// files, sockets and the runtime need some), so that a flood of connections is refused at accept rather than leaving
/// the process without descriptors for its config file, sysfs and the kubelet.
/// </summary>
public static partial class KestrelLimits
{
    /// <summary>The largest request body: the kubelet's gRPC message limit.</summary>
    public const long MaxRequestBodyBytes = 4 * 1024 * 1024;

    /// <summary>Descriptors kept back from connections for everything else the daemon opens.</summary>
    public const long ReservedDescriptors = 64;

    /// <summary>The fewest connections allowed however low the open-file limit (the kubelet needs one per resource).</summary>
    public const long MinConnections = 16;

    /// <summary>The most connections when the open-file limit is unlimited or very high.</summary>
    public const long MaxConnections = 4096;

    public static void Apply(KestrelServerOptions kestrel)
    {
        kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
        kestrel.Limits.MaxConcurrentConnections = ConnectionLimit(OpenFileLimit());
        kestrel.Limits.MaxConcurrentUpgradedConnections = 0;
    }

    /// <summary>How many concurrent connections an open-file soft limit of <paramref name="softLimit"/> leaves room for (null: unknown).</summary>
    public static long ConnectionLimit(ulong? softLimit) => softLimit switch
    {
        null => MaxConnections,
        var n when n >= (ulong)(MaxConnections + ReservedDescriptors) => MaxConnections,
        var n => Math.Max(MinConnections, (long)n.Value - ReservedDescriptors),
    };

    /// <summary>The process's open-file soft limit (RLIMIT_NOFILE), or null when it cannot be read.</summary>
    public static ulong? OpenFileLimit()
    {
        const int RlimitNofile = 7; // the same on x86-64 and arm64
        Span<ulong> limit = stackalloc ulong[2];
        return getrlimit(RlimitNofile, ref MemoryMarshal.GetReference(limit)) == 0 ? limit[0] : null;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, ref ulong limits);
}
