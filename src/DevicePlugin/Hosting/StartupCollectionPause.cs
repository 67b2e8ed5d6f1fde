using System.Runtime;

namespace DevicePlugin.Hosting;

/// <summary>
/// No garbage collection between the start of <c>Main</c> and the end of start-up (every resource registered, or
/// start-up done waiting). Start-up allocates 7 – 9 MiB, most of which lives until registration (the web server, its
/// dependency-injection container, the generic types the runtime builds for it), so with a 2 MiB gen0
/// budget three or four collections each copied most of it again, on the way to registration. The region ends
/// before <see cref="MemoryTrimmer"/>'s first trim, which then returns start-up's garbage at once. Start-up that
/// allocates more than <see cref="Bytes"/> simply collects as before (the runtime ends the region itself).
/// Measured in docs/BENCHMARKS.md.
/// Only without a GC heap hard limit: under a container memory limit the runtime derives one (the executable asks for
/// half of the limit), and with a 64 MiB memory cgroup (the DaemonSet's limit) starting a 16 MiB region made the
/// Native AOT runtime crash with SIGSEGV before <c>Main</c> went on (<c>Cli/MemoryCgroupTests</c>). The daemon under a
/// limit simply starts with collections, as it did before the region existed.
/// </summary>
internal static class StartupCollectionPause
{
    public const long Bytes = 16 * 1024 * 1024;

    /// <summary>
    /// Starts the region; false when the GC has a heap hard limit, or when the runtime refuses (a region already on).
    /// </summary>
    public static bool Begin(long bytes = Bytes) => Begin(bytes, HeapHardLimit());

    /// <summary>Starts the region unless <paramref name="heapHardLimit"/> (bytes, 0 = none) is set.</summary>
    public static bool Begin(long bytes, ulong heapHardLimit)
    {
        if (heapHardLimit != 0)
        {
            return false;
        }

        try
        {
            return GC.TryStartNoGCRegion(bytes);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The GC's heap hard limit in bytes (0 = none), as the runtime settled it from its settings and the cgroup.</summary>
    public static ulong HeapHardLimit()
    {
        var limit = GC.GetConfigurationVariables().TryGetValue("GCHeapHardLimit", out var value) ? value : null;
        return limit switch
        {
            ulong u => u,
            long l when l > 0 => (ulong)l,
            _ => 0,
        };
    }

    /// <summary>Ends the region if it is still on; nothing otherwise (never started, or ended by a collection).</summary>
    public static void End()
    {
        if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
        {
            return;
        }

        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // A collection ended it meanwhile.
        }
    }
}
