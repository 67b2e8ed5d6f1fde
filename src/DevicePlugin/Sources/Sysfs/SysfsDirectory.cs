using System.Runtime.InteropServices;
using System.Text;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>
/// Lists a directory with <c>readdir</c>, taking each entry's type from the directory itself. .NET's enumerators
/// stat the target of every symbolic link they meet, which in sysfs (a listing of 2,000 links, a device directory
/// full of links) costs more than the rest of a scan; this never touches what a link points to.
/// </summary>
internal static unsafe partial class SysfsDirectory
{
    public const byte TypeUnknown = 0;
    public const byte TypeDirectory = 4;
    public const byte TypeRegular = 8;
    public const byte TypeLink = 10;

    // struct dirent on 64-bit Linux (glibc and musl): d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    private const int TypeOffset = 18;
    private const int NameOffset = 19;

    /// <summary>Appends every entry but "." and ".." with its d_type; false with a reason when the directory cannot be read.</summary>
    public static bool TryList(string path, List<(string Name, byte Type)> entries, out string error)
    {
        var dir = OpenDir(path);
        if (dir == 0)
        {
            error = $"cannot list {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return false;
        }

        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                var entry = (byte*)ReadDir(dir);
                if (entry is null)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    error = errno == 0 ? "" : $"cannot list {path}: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return errno == 0;
                }

                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + NameOffset);
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                {
                    continue;
                }

                entries.Add((Encoding.UTF8.GetString(name), entry[TypeOffset]));
            }
        }
        finally
        {
            _ = CloseDir(dir);
        }
    }

    /// <summary>
    /// The number of entries and an order-independent hash of their names, without allocating them;
    /// null when the directory cannot be read.
    /// </summary>
    public static (int Count, int Hash)? Fingerprint(string path)
    {
        var dir = OpenDir(path);
        if (dir == 0)
        {
            return null;
        }

        try
        {
            var count = 0;
            var hash = 0;
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                var entry = (byte*)ReadDir(dir);
                if (entry is null)
                {
                    return Marshal.GetLastPInvokeError() == 0 ? (count, hash) : null;
                }

                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + NameOffset);
                var h = new HashCode();
                h.AddBytes(name);
                hash ^= h.ToHashCode();
                count++;
            }
        }
        finally
        {
            _ = CloseDir(dir);
        }
    }

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint OpenDir(string path);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static partial nint ReadDir(nint dir);

    [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
    private static partial int CloseDir(nint dir);
}
