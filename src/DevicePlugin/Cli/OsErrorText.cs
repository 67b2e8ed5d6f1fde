using System.Runtime.InteropServices;

namespace DevicePlugin.Cli;

/// <summary>
/// The operating system's error behind an exception, as a person reads it: the C library's own text for the errno
/// and its name, e.g. <c>No such file or directory (ENOENT)</c>. Built from the exception's type and errno, not from
/// the runtime's message, which names the path a second time, differs between runtime versions, and under
/// <c>UseSystemResourceKeys</c> is a resource key such as <c>IO_FileNotFound_FileName</c>.
/// </summary>
public static class OsErrorText
{
    private const int Enoent = 2;
    private const int Eacces = 13;
    private const int Enametoolong = 36;

    /// <summary>
    /// The OS error behind <paramref name="error"/> for the file and socket exceptions, which carry one; any other
    /// exception's own message (the daemon's exceptions say what went wrong in words of their own).
    /// </summary>
    public static string Of(Exception error) => error switch
    {
        FileNotFoundException or DirectoryNotFoundException => Errno(Enoent),
        UnauthorizedAccessException => Errno(Eacces),
        PathTooLongException => Errno(Enametoolong),

        // On Unix an IOException that the runtime does not map to a type of its own carries the raw errno.
        IOException { HResult: > 0 and < 4096 } io => Errno(io.HResult),
        System.Net.Sockets.SocketException socket when socket.NativeErrorCode is > 0 and < 4096 => Errno(socket.NativeErrorCode),
        _ => error.Message,
    };

    /// <summary>The C library's text for <paramref name="errno"/>, with the errno's name where it is a common one.</summary>
    public static string Errno(int errno)
    {
        var text = Marshal.GetPInvokeErrorMessage(errno);
        return Name(errno) is { } name ? $"{text} ({name})" : $"{text} (errno {errno})";
    }

    private static string? Name(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        6 => "ENXIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        26 => "ETXTBSY",
        28 => "ENOSPC",
        30 => "EROFS",
        36 => "ENAMETOOLONG",
        40 => "ELOOP",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        _ => null,
    };

    /// <summary>
    /// Why the dynamic loader refused a library, from a <see cref="DllNotFoundException"/>: the loader's own lines
    /// (<c>dlerror()</c>, e.g. <c>/x/libnvidia-ml.so.1: cannot open shared object file: No such file or
    /// directory</c>), joined on one line, without the runtime's wrapping text. When the message holds none, the
    /// file is checked here so the reason still names the OS error.
    /// </summary>
    public static string LoaderError(string path, Exception error)
    {
        var file = Path.GetFileName(path);
        var lines = error.Message
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.TrimEnd(',', ' '))
            .Where(l => (l.StartsWith('/') || (file.Length > 0 && l.StartsWith(file, StringComparison.Ordinal)))
                && l.Contains(": ", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        if (lines.Length > 0)
        {
            return string.Join("; ", lines);
        }

        if (path.Contains('/', StringComparison.Ordinal))
        {
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Of(e);
            }

            return "the file is there and readable, but the dynamic loader refused it";
        }

        return "not found in the dynamic loader's search path";
    }
}
