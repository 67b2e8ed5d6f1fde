using System.Globalization;
using System.Runtime.InteropServices;

namespace DevicePlugin.Hosting;

/// <summary>
/// Unmaps the pages of a file's read-only mappings from this process (<c>madvise(MADV_DONTNEED)</c>), so that only the
/// pages the process touches afterwards count in its resident set again. Used on the daemon's own executable once
/// start-up is done: a page fault maps the cached pages around the faulting one too (the kernel's fault-around, 64 KiB),
/// so start-up leaves nearly the whole executable mapped while an idle daemon runs a small part of it.
/// </summary>
/// <remarks>
/// The pages stay in the page cache; a later access maps them again with a minor fault. Safe only where the mapping
/// holds no page of its own: <c>MADV_DONTNEED</c> on a private file mapping also drops the private copies a write made
/// (relocated data, a debugger's breakpoint). So a mapping is released only when <c>/proc/self/smaps</c> shows it
/// private, not writable, and with no anonymous or swapped page; anything that does not parse as expected skips the
/// whole release.
/// </remarks>
public static partial class FilePageRelease
{
    /// <summary>One mapping of <c>/proc/PID/smaps</c>, with the fields the release looks at (KiB; -1 when absent).</summary>
    public sealed record Mapping(ulong Start, ulong End, string Permissions, string Path)
    {
        public long RssKiB { get; set; } = -1;

        public long AnonymousKiB { get; set; } = -1;

        public long SwapKiB { get; set; } = -1;

        /// <summary>Private, not writable, every size field present, no anonymous or swapped page.</summary>
        public bool IsReleasable =>
            Permissions.Length == 4 && Permissions[1] == '-' && Permissions[3] == 'p'
            && End > Start && RssKiB >= 0 && AnonymousKiB == 0 && SwapKiB == 0;
    }

    /// <summary>What a release did.</summary>
    public readonly record struct Result(int Released, int Skipped, long ReleasedKiB, string? Problem);

    /// <summary>
    /// Parses smaps text; null when a line does not read as smaps (the release is skipped then). Only mappings whose
    /// path is <paramref name="path"/> are returned.
    /// </summary>
    public static List<Mapping>? Parse(string smaps, string path)
    {
        var mappings = new List<Mapping>();
        Mapping? current = null;
        foreach (var line in smaps.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (IsHeader(line, out var start, out var end, out var permissions, out var name))
            {
                current = name == path ? new Mapping(start, end, permissions, name) : null;
                if (current is not null)
                {
                    mappings.Add(current);
                }

                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return null;
            }

            if (current is null)
            {
                continue;
            }

            var key = line[..colon];
            if (key is not ("Rss" or "Anonymous" or "Swap"))
            {
                continue;
            }

            var value = line[(colon + 1)..].Trim();
            if (!value.EndsWith(" kB", StringComparison.Ordinal)
                || !long.TryParse(value[..^3].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return null;
            }

            switch (key)
            {
                case "Rss":
                    current.RssKiB = kib;
                    break;
                case "Anonymous":
                    current.AnonymousKiB = kib;
                    break;
                default:
                    current.SwapKiB = kib;
                    break;
            }
        }

        return mappings;
    }

    /// <summary>
    /// Releases the pages of every releasable mapping of <paramref name="path"/> (the process's own executable when
    /// null), reading <c>/proc/self/smaps</c> afresh.
    /// </summary>
    public static Result Release(string? path = null)
    {
        try
        {
            path ??= Environment.ProcessPath;
            if (string.IsNullOrEmpty(path) || !OperatingSystem.IsLinux())
            {
                return new Result(0, 0, 0, "no executable path on this system");
            }

            var mappings = Parse(File.ReadAllText("/proc/self/smaps"), path);
            if (mappings is null)
            {
                return new Result(0, 0, 0, "/proc/self/smaps did not parse");
            }

            var released = 0;
            var skipped = 0;
            long kib = 0;
            foreach (var mapping in mappings)
            {
                if (!mapping.IsReleasable)
                {
                    skipped++;
                    continue;
                }

                if (Madvise((nint)mapping.Start, (nuint)(mapping.End - mapping.Start), MadvDontNeed) != 0)
                {
                    skipped++;
                    continue;
                }

                released++;
                kib += mapping.RssKiB;
            }

            return new Result(released, skipped, kib, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Result(0, 0, 0, $"/proc/self/smaps: {e.GetType().Name}");
        }
    }

    /// <summary>A smaps mapping line: <c>start-end perms offset dev inode [path]</c>.</summary>
    private static bool IsHeader(string line, out ulong start, out ulong end, out string permissions, out string path)
    {
        start = end = 0;
        permissions = path = "";
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5)
        {
            return false;
        }

        var range = fields[0].Split('-');
        if (range.Length != 2
            || !ulong.TryParse(range[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out start)
            || !ulong.TryParse(range[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out end)
            || fields[1].Length != 4)
        {
            return false;
        }

        permissions = fields[1];
        path = fields.Length == 6 ? fields[5].Trim() : "";
        return true;
    }

    private const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
