using System.Runtime.InteropServices;
using DevicePlugin.Cli;

namespace DevicePlugin.Configuration;

/// <summary>
/// Reads the configuration file as hostile input: only a regular file (after following links), at most
/// <see cref="MaxBytes"/>, and never for longer than a timeout: a FIFO, a device such as <c>/dev/zero</c> or a hung
/// mount is an error that names the path, not a blocked or unbounded read. The read runs on its own thread, so the
/// caller's loop only waits as long as it chooses to.
/// </summary>
public static partial class ConfigFileReader
{
    /// <summary>The largest configuration file read: 1 MiB.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>How long a read may take before it counts as hung.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Reads the file, or throws a <see cref="ConfigException"/> saying why it cannot be read.</summary>
    public static byte[] Read(string path, TimeSpan? timeout = null)
    {
        var read = Task.Factory.StartNew(() => ReadNow(path), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var limit = timeout ?? DefaultTimeout;
        bool finished;
        try
        {
            finished = read.Wait(limit);
        }
        catch (AggregateException e) when (e.InnerException is ConfigException inner)
        {
            throw inner;
        }

        if (!finished)
        {
            // The thread stays blocked in the kernel until the file answers; we stop waiting for it.
            _ = read.ContinueWith(t => t.Exception, TaskScheduler.Default);
            throw Unreadable(path, $"reading it did not finish within {limit.TotalSeconds:0.#} s (a FIFO or a hung mount?)");
        }

        return read.Result;
    }

    /// <summary>Reads the file on the calling thread (it may block on a hung mount: use <see cref="Read"/>).</summary>
    public static byte[] ReadNow(string path)
    {
        // Checked before open(2), which blocks on a FIFO until a writer appears.
        switch (FileType(path))
        {
            case FileKind.Regular or FileKind.Unknown:
                break;
            case FileKind.Missing:
                throw Unreadable(path, OsErrorText.Errno(2));
            case var other:
                throw Unreadable(path, $"is a {Describe(other)}, not a regular file");
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            var buffer = new byte[Math.Min(MaxBytes + 1, stream.CanSeek ? Math.Max(stream.Length + 1, 1) : MaxBytes + 1)];
            var total = 0;
            while (total < buffer.Length)
            {
                var n = stream.Read(buffer, total, buffer.Length - total);
                if (n == 0)
                {
                    break;
                }

                total += n;
                if (total == buffer.Length && buffer.Length <= MaxBytes)
                {
                    // The file grew since its length was taken: read on, up to the limit.
                    Array.Resize(ref buffer, MaxBytes + 1);
                }
            }

            if (total > MaxBytes)
            {
                throw Unreadable(path, $"is larger than the limit of 1 MiB ({MaxBytes:N0} bytes)");
            }

            return buffer.AsSpan(0, total).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The OS error from the exception's type and errno: the runtime's own message may be a resource key.
            throw Unreadable(path, OsErrorText.Of(e));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw Unreadable(path, $"not a usable file path ({e.GetType().Name})");
        }
    }

    private static ConfigException Unreadable(string path, string problem) => new(path, 0, "(file)", $"cannot be read: {problem}");

    private enum FileKind
    {
        Unknown,
        Missing,
        Regular,
        Directory,
        Fifo,
        CharacterDevice,
        BlockDevice,
        Socket,
    }

    private static string Describe(FileKind kind) => kind switch
    {
        FileKind.Directory => "directory",
        FileKind.Fifo => "FIFO (named pipe)",
        FileKind.CharacterDevice => "character device",
        FileKind.BlockDevice => "block device",
        FileKind.Socket => "socket",
        _ => "special file",
    };

    /// <summary>The file type, following links, from statx(2), whose buffer layout is the same on every architecture.</summary>
    private static unsafe FileKind FileType(string path)
    {
        const int AtFdCwd = -100;
        const uint StatxType = 0x1;
        var buffer = stackalloc byte[256];
        int result;
        try
        {
            result = statx(AtFdCwd, path, 0, StatxType, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without statx (glibc before 2.28): open(2) and the read timeout still apply.
            return FileKind.Unknown;
        }

        if (result != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is 2 or 20 ? FileKind.Missing : FileKind.Unknown; // ENOENT, ENOTDIR; anything else: let open(2) say
        }

        var mode = *(ushort*)(buffer + 28) & 0xF000;
        return mode switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
