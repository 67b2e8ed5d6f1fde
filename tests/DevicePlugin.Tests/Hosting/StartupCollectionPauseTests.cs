using System.Runtime;
using DevicePlugin.Hosting;

namespace DevicePlugin.Tests.Hosting;

public sealed class StartupCollectionPauseTests
{
    [Fact]
    public void End_ends_the_region_Begin_started_and_is_harmless_when_none_is_on()
    {
        StartupCollectionPause.End(); // none on: nothing happens, nothing thrown
        if (StartupCollectionPause.Begin(1024 * 1024))
        {
            StartupCollectionPause.End();
        }

        // Either the region was started and ended here, or the runtime refused it (or another test's collection
        // ended it): in every case no region is left on, and a second End is harmless.
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        StartupCollectionPause.End();
    }

    [Fact]
    public void No_region_is_started_under_a_heap_hard_limit()
    {
        // A container memory limit gives the GC a hard limit; a no-GC region under a 64 MiB cgroup crashed the native
        // runtime at start (Cli/MemoryCgroupTests), so the region is for processes without one.
        Assert.False(StartupCollectionPause.Begin(1024 * 1024, heapHardLimit: 32UL * 1024 * 1024));
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }
}
