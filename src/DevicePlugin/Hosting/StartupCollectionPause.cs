using System.Runtime;

namespace DevicePlugin.Hosting;

/// <summary>
/// No garbage collection between the start of <c>Main</c> and the end of start-up (every resource registered, or
/// start-up done waiting). Start-up allocates 7 – 9 MiB, most of which lives until registration (the web server, its
/// dependency-injection container, the generic types the runtime builds for it), so with the daemon's 2 MiB gen0
/// budget three or four collections each copied most of it again, on the way to registration. The region ends
/// before <see cref="MemoryTrimmer"/>'s first trim, which then returns start-up's garbage at once. Start-up that
/// allocates more than <see cref="Bytes"/> simply collects as before (the runtime ends the region itself).
/// Measured in docs/BENCHMARKS.md.
/// </summary>
internal static class StartupCollectionPause
{
    public const long Bytes = 16 * 1024 * 1024;

    /// <summary>Starts the region; false when the runtime refuses (a heap limit smaller than the region, a region already on).</summary>
    public static bool Begin(long bytes = Bytes)
    {
        try
        {
            return GC.TryStartNoGCRegion(bytes);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            return false;
        }
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
