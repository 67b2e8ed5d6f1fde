using System.Runtime.InteropServices;
using System.Text;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>
/// Small, non-blocking reads of sysfs attributes and links. Attributes are opened with <c>O_NONBLOCK</c> so that a
/// FIFO or other odd file in a (fake or damaged) tree can never hang a scan; links are read with <c>readlink</c>,
/// never followed. Failures come back as a message naming the path and the reason, never as an exception.
/// </summary>
internal static unsafe partial class SysfsFile
{
    // Linux values, the same on x86-64 and arm64.
    private const int ORdOnly = 0;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;
    private const int EIntr = 4;

    /// <summary>sysfs attributes are at most one page.</summary>
    private const int MaxAttributeBytes = 4096;

    /// <summary>Reads a whole attribute and trims the trailing newline; false with a reason when it cannot.</summary>
    public static bool TryRead(string path, out string text, out string error)
    {
        text = "";
        var fd = Open(path, ORdOnly | ONonBlock | OCloExec);
        if (fd < 0)
        {
            error = $"cannot open {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return false;
        }

        try
        {
            var buffer = stackalloc byte[MaxAttributeBytes];
            var total = 0;
            while (total < MaxAttributeBytes)
            {
                var n = Read(fd, buffer + total, (nuint)(MaxAttributeBytes - total));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EIntr)
                    {
                        continue;
                    }

                    error = $"cannot read {path}: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return false;
                }

                if (n == 0)
                {
                    break;
                }

                total += (int)n;
            }

            text = Encoding.UTF8.GetString(buffer, total).TrimEnd('\n', '\r', ' ', '\0');
            error = "";
            return true;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// The target of a symbolic link as written (not followed), or null when the path is absent or not a link.
    /// </summary>
    public static string? ReadLink(string path)
    {
        var buffer = stackalloc byte[MaxAttributeBytes];
        var n = ReadLinkNative(path, buffer, MaxAttributeBytes);
        return n <= 0 ? null : Encoding.UTF8.GetString(buffer, (int)n);
    }

    /// <summary>The last component of a link's target (a driver's or an IOMMU group's name), or null.</summary>
    public static string? ReadLinkName(string path)
    {
        var target = ReadLink(path);
        if (target is null)
        {
            return null;
        }

        var name = target.AsSpan().TrimEnd('/');
        var slash = name.LastIndexOf('/');
        return slash < 0 ? name.ToString() : name[(slash + 1)..].ToString();
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint ReadLinkNative(string path, byte* buffer, nuint size);
}
