namespace DevicePlugin.Allocation;

/// <summary>Which search <see cref="PreferredAllocator"/> runs.</summary>
internal enum AllocatorMode
{
    /// <summary>Exact when the request is small enough (<see cref="ExactSearch.Fits"/>), else heuristic.</summary>
    Automatic,
    Exact,
    Heuristic,
}
