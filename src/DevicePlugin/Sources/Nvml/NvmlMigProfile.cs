using System.Globalization;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// MIG profile names as NVIDIA's tools print them: <c>&lt;G&gt;g.&lt;GB&gt;gb</c>, or <c>&lt;C&gt;c.&lt;G&gt;g.&lt;GB&gt;gb</c>
/// when the compute instance has fewer slices than its GPU instance, with G and C the attributes' slice counts.
/// </summary>
internal static class NvmlMigProfile
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    /// <summary>
    /// The name, with GB by go-nvlib's memory rule: the instance's share of the parent's memory rounded up to
    /// eighths, times the parent's memory in GiB rounded up, rounded half away from zero. Exact integer arithmetic:
    /// no floating-point step can round a half the wrong way. Without the parent's total (a driver that refuses it
    /// to an unprivileged process) GB is the instance's own MiB / 1024 rounded half away from zero.
    /// </summary>
    public static string Name(uint gpuSlices, uint computeSlices, ulong memoryMiB, ulong? parentTotalBytes)
    {
        var gb = parentTotalBytes is { } total and > 0 ? Gigabytes(memoryMiB, total) : HalfAwayFromZero(memoryMiB, 1024);
        return computeSlices == gpuSlices
            ? string.Create(CultureInfo.InvariantCulture, $"{gpuSlices}g.{gb}gb")
            : string.Create(CultureInfo.InvariantCulture, $"{computeSlices}c.{gpuSlices}g.{gb}gb");
    }

    /// <summary>round(ceil(8 · memMiB·2²⁰ / total) / 8 · ceil(total / 2³⁰)), halves away from zero.</summary>
    public static ulong Gigabytes(ulong memoryMiB, ulong parentTotalBytes)
    {
        var eighths = CeilDiv((UInt128)memoryMiB * MiB * 8, parentTotalBytes);
        var parentGiB = CeilDiv(parentTotalBytes, GiB);
        return (ulong)HalfAwayFromZero(eighths * parentGiB, 8);
    }

    private static UInt128 CeilDiv(UInt128 a, UInt128 b) => (a + b - 1) / b;

    private static UInt128 HalfAwayFromZero(UInt128 numerator, UInt128 denominator) => ((2 * numerator) + denominator) / (2 * denominator);
}
