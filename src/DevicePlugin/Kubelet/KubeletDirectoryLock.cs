using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace DevicePlugin.Kubelet;

/// <summary>
/// One daemon per kubelet directory: an exclusive <c>flock(2)</c> on <c>.device-plugin.lock</c> inside the directory,
/// held for the process lifetime and taken before any socket is created there. The file holds the holder's PID, so a
/// second daemon can name the running one.
/// </summary>
/// <remarks>
/// The lock file lives in the kubelet directory itself because that is the only path every plugin container on the
/// node shares (the DaemonSet mounts just that directory). The kubelet deletes sockets there on restart, not regular
/// files, so the lock survives kubelet restarts. When the file or the whole directory is deleted anyway (the directory
/// removed and recreated), <see cref="Ensure"/> notices that the path no longer names the file it locked and locks the
/// new one; a second daemon that got there first wins and this one stops. The kernel releases the lock when the
/// process dies (SIGKILL too), so a leftover file never blocks a restart. The file is left in place at shutdown.
/// The lock is taken with <c>flock(2)</c> directly rather than through <see cref="FileShare.None"/>, which .NET
/// skips silently where locking is unsupported or turned off (<c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c>).
/// </remarks>
public sealed partial class KubeletDirectoryLock : IDisposable
{
    public const string FileName = ".device-plugin.lock";

    private readonly Lock _sync = new();
    private readonly TaskCompletionSource<string> _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _fd = -1;
    private FileIdentity _held;

    public KubeletDirectoryLock(string directory)
    {
        Directory = directory;
        FilePath = Path.Combine(directory, FileName);
    }

    public string Directory { get; }

    public string FilePath { get; }

    /// <summary>True while this process holds the lock.</summary>
    public bool IsHeld
    {
        get
        {
            lock (_sync)
            {
                return _fd >= 0;
            }
        }
    }

    /// <summary>Completes, with the one-line reason, when another daemon holds the directory: this one must stop.</summary>
    public Task<string> Lost => _lost.Task;

    /// <summary>
    /// Takes the lock, or checks that it is still ours. Returns false while the directory does not exist (the lock is
    /// taken when it appears); throws <see cref="KubeletDirectoryLockedException"/> when another daemon holds it.
    /// </summary>
    public bool Ensure()
    {
        lock (_sync)
        {
            if (_fd >= 0)
            {
                if (Identify(FilePath) == _held)
                {
                    return true;
                }

                // The file was deleted or the directory recreated: the lock held guards nothing any more.
                _ = close(_fd);
                _fd = -1;
            }

            for (var attempt = 0; attempt < 3; attempt++)
            {
                if (!System.IO.Directory.Exists(Directory))
                {
                    return false;
                }

                var fd = open(FilePath, OpenReadWrite | OpenCreate | OpenNoFollow | OpenCloseOnExec, 0x1A4 /* 0644 */);
                if (fd < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == ENOENT)
                    {
                        return false; // the directory went away meanwhile
                    }

                    throw new IOException($"cannot open the instance lock file {FilePath}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }

                if (flock(fd, LockExclusive | LockNonBlocking) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    var holder = ReadHolder(fd);
                    _ = close(fd);
                    if (errno != EWOULDBLOCK)
                    {
                        throw new IOException($"cannot lock the instance lock file {FilePath}: {Marshal.GetPInvokeErrorMessage(errno)}");
                    }

                    var message = $"another device-plugin ({(holder is null ? "PID unknown" : $"PID {holder}")}) is already running on --kubelet-dir {Directory} (it holds {FilePath}); only one may serve a kubelet directory";
                    _lost.TrySetResult(message);
                    throw new KubeletDirectoryLockedException(message);
                }

                var identity = Identify(fd);
                if (identity != Identify(FilePath))
                {
                    // Locked a file that was deleted between open and flock: lock the one the path names now.
                    _ = close(fd);
                    continue;
                }

                var pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
                _ = ftruncate(fd, 0);
                _ = pwrite(fd, pid, pid.Length, 0);
                _fd = fd;
                _held = identity;
                return true;
            }

            return false;
        }
    }

    private static string? ReadHolder(int fd)
    {
        var buffer = new byte[32];
        var n = pread(fd, buffer, buffer.Length, 0);
        if (n <= 0)
        {
            return null;
        }

        var text = Encoding.ASCII.GetString(buffer, 0, (int)n).Trim();
        return text.Length > 0 && text.All(char.IsAsciiDigit) ? text : null;
    }

    public void Dispose()
    {
        lock (_sync)
        {
            if (_fd >= 0)
            {
                _ = close(_fd);
                _fd = -1;
            }
        }
    }

    private readonly record struct FileIdentity(uint DevMajor, uint DevMinor, ulong Inode);

    private static FileIdentity Identify(string path) => Statx(AtFdCwd, path, 0);

    private static FileIdentity Identify(int fd) => Statx(fd, "", AtEmptyPath);

    /// <summary>Device and inode from statx(2), whose buffer layout is the same on every architecture; default when it fails.</summary>
    private static unsafe FileIdentity Statx(int dirfd, string path, int flags)
    {
        const uint StatxIno = 0x100;
        var buffer = stackalloc byte[256];
        if (statx(dirfd, path, flags | AtSymlinkNoFollow, StatxIno, buffer) != 0)
        {
            return default;
        }

        return new FileIdentity(*(uint*)(buffer + 136), *(uint*)(buffer + 140), *(ulong*)(buffer + 32));
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const int OpenReadWrite = 0x2;
    private const int OpenCreate = 0x40;
    private const int OpenNoFollow = 0x20000;
    private const int OpenCloseOnExec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int ENOENT = 2;
    private const int EWOULDBLOCK = 11;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(int fd, int operation);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte[] buffer, nint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte[] buffer, nint count, long offset);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}

/// <summary>Another daemon holds the kubelet directory (exit 1, one line).</summary>
public sealed class KubeletDirectoryLockedException(string message) : Exception(message);
