using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// Returns the managed heap's free memory to the system when the daemon goes quiet: once when start-up is done (its
/// garbage: configuration parsing, building the server), and after each burst of calls. An idle daemon allocates
/// almost nothing, so without this no collection would run after a burst and the process would keep the pages the
/// burst grew the heap to. A trim is one full, compacting collection that decommits the free space
/// (<see cref="GCCollectionMode.Aggressive"/>); on this daemon's few-MiB heap it takes milliseconds and runs only
/// when no calls are coming in. Each trim also unmaps the executable's read-only pages (<see cref="FilePageRelease"/>):
/// start-up maps nearly all of the file, the quiet daemon uses a fraction of it. Measured in docs/BENCHMARKS.md.
/// </summary>
public sealed class MemoryTrimmer : IAsyncDisposable
{
    /// <summary>How often the allocation counter is looked at.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>Less than this allocated in one period is quiet (the idle loops allocate a few KiB).</summary>
    public const long QuietBytes = 256 * 1024;

    /// <summary>A quiet period trims when at least this much was allocated since the last trim.</summary>
    public const long TrimAfterBytes = 4 * 1024 * 1024;

    private readonly Func<long> _allocated;
    private readonly Action _collect;
    private bool _released;
    private bool _startupTailPending;
    private readonly BackgroundLoop? _loop;
    private long _seen;
    private long _trimmedAt;

    /// <summary>Watches this process's allocations and trims its heap and the executable's mapped pages.</summary>
    public MemoryTrimmer(ILogger logger, LoopHealth? health = null)
        : this(() => GC.GetTotalAllocatedBytes(), static () => { })
    {
        _collect = () => CollectAndRelease(logger);
        _loop = new BackgroundLoop("memory-trim", _ => { Check(); return Task.CompletedTask; }, logger, health, Period);
    }

    /// <summary>For tests: the allocation counter and the collection are given; <see cref="Check"/> is called by hand.</summary>
    public MemoryTrimmer(Func<long> allocated, Action collect)
    {
        _allocated = allocated;
        _collect = collect;
        _seen = allocated();
        _trimmedAt = _seen;
    }

    /// <summary>Collections this trimmer ran.</summary>
    public int Trims { get; private set; }

    /// <summary>Starts the periodic check.</summary>
    public void Start() => _loop?.Start();

    /// <summary>Trims now; <paramref name="startup"/>: start-up is done (see <see cref="Check"/>).</summary>
    public void Trim(bool startup = false)
    {
        _collect();
        _startupTailPending = startup;
        Trims++;
        _trimmedAt = _allocated();
        _seen = _trimmedAt;
    }

    /// <summary>
    /// One check: trims when the last period was quiet and enough was allocated since the last trim, and in the first
    /// quiet period after start-up's trim in any case: what ran between registering and going quiet (the
    /// first PodResources poll, the first scrape) mapped executable pages the idle daemon does not use.
    /// </summary>
    public void Check()
    {
        var now = _allocated();
        var quiet = now - _seen < QuietBytes;
        _seen = now;
        if (quiet && (now - _trimmedAt >= TrimAfterBytes || _startupTailPending))
        {
            Trim();
        }
    }

    /// <summary>
    /// One trim: the executable's read-only pages are unmapped (<see cref="FilePageRelease"/>), so that what the quiet
    /// daemon runs is all of them that stays resident, then the compacting collection.
    /// </summary>
    private void CollectAndRelease(ILogger logger)
    {
        // The release first: what it allocates (the smaps text) is garbage the collection then returns.
        var result = FilePageRelease.Release();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var first = !_released;
        _released = true;
        if (result.Problem is { } problem)
        {
            if (first)
            {
                HostingLog.ExecutablePagesKept(logger, problem);
            }
        }
        else if (first)
        {
            HostingLog.ExecutablePagesReleased(logger, result.ReleasedKiB, result.Released, result.Skipped);
        }
        else
        {
            HostingLog.ExecutablePagesReleasedAgain(logger, result.ReleasedKiB, result.Released, result.Skipped);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            await _loop.DisposeAsync();
        }
    }
}
