using DevicePlugin.Hosting;

namespace DevicePlugin.Tests.Hosting;

public sealed class MemoryTrimmerTests
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public void A_burst_is_trimmed_once_in_the_first_quiet_period_after_it_and_never_while_it_lasts()
    {
        long allocated = 0;
        var collections = 0;
        var trimmer = new MemoryTrimmer(() => allocated, () => collections++);

        // Busy: every period allocates far more than the quiet threshold.
        for (var i = 0; i < 5; i++)
        {
            allocated += 20 * MiB;
            trimmer.Check();
        }

        Assert.Equal(0, collections);

        // The burst is over: the idle loops allocate a little.
        allocated += 10 * 1024;
        trimmer.Check();
        Assert.Equal(1, collections);

        // Still quiet: nothing new to return.
        for (var i = 0; i < 10; i++)
        {
            allocated += 10 * 1024;
            trimmer.Check();
        }

        Assert.Equal(1, collections);
        Assert.Equal(1, trimmer.Trims);
    }

    [Fact]
    public void Quiet_periods_trim_only_once_enough_was_allocated_since_the_last_trim()
    {
        long allocated = 0;
        var collections = 0;
        var trimmer = new MemoryTrimmer(() => allocated, () => collections++);
        trimmer.Trim();
        Assert.Equal(1, collections);

        // Idle allocation adds up slowly; a trim comes once it passes the threshold, not every period.
        var step = MemoryTrimmer.QuietBytes / 2;
        var periods = 0;
        while (collections == 1)
        {
            allocated += step;
            trimmer.Check();
            periods++;
            Assert.True(periods < 1000, "never trimmed");
        }

        Assert.Equal(2, collections);
        Assert.Equal(MemoryTrimmer.TrimAfterBytes / step, periods);
    }

    [Fact]
    public void The_first_quiet_period_after_the_start_up_trim_trims_once_more_and_later_ones_wait_for_allocation()
    {
        long allocated = 0;
        var collections = 0;
        var trimmer = new MemoryTrimmer(() => allocated, () => collections++);
        trimmer.Trim(startup: true);

        // Start-up's tail: the first PodResources poll and scrape allocate more than a quiet period's worth.
        allocated += 2 * MemoryTrimmer.QuietBytes;
        trimmer.Check();
        Assert.Equal(1, collections);

        // Quiet now, with far less than TrimAfterBytes allocated since the start-up trim: one more trim all the same.
        allocated += 1024;
        trimmer.Check();
        Assert.Equal(2, collections);

        for (var i = 0; i < 10; i++)
        {
            allocated += 1024;
            trimmer.Check();
        }

        Assert.Equal(2, collections);
    }
}
