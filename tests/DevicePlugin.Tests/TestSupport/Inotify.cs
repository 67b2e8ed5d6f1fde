using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// Records how files appear in one directory, straight from inotify(7): created in place (IN_CREATE) or renamed in
/// (IN_MOVED_TO), with the file's mode as stat(2) sees it right after the event. .NET's FileSystemWatcher reports a
/// file moved in from another directory as created, so it cannot tell the two apart.
/// </summary>
public sealed partial class Inotify : IDisposable
{
    public const uint InCreate = 0x100;
    public const uint InMovedTo = 0x80;
    public const uint InOpen = 0x20;

    private readonly int _fd;
    private readonly Thread _reader;
    private readonly string _directory;
    private readonly Action<string, uint>? _onEvent;
    private volatile bool _stop;

    /// <param name="mask">the events to watch (default: created and renamed in)</param>
    /// <param name="onEvent">called on the reader thread the moment an event is read, before it is queued</param>
    public Inotify(string directory, uint mask = InCreate | InMovedTo, Action<string, uint>? onEvent = null)
    {
        _directory = directory;
        _onEvent = onEvent;
        _fd = inotify_init1(0x800); // IN_NONBLOCK
        if (_fd < 0 || inotify_add_watch(_fd, directory, mask) < 0)
        {
            throw new IOException($"inotify on {directory} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _reader = new Thread(Read) { IsBackground = true, Name = "inotify " + directory };
        _reader.Start();
    }

    public ConcurrentQueue<(string Name, uint Mask, UnixFileMode? Mode)> Events { get; } = new();

    private unsafe void Read()
    {
        var buffer = new byte[64 * 1024];
        while (!_stop)
        {
            var pfd = new PollFd { Fd = _fd, Events = 1 };
            if (poll(&pfd, 1, 50) <= 0)
            {
                continue;
            }

            int n;
            fixed (byte* p = buffer)
            {
                n = (int)read(_fd, p, buffer.Length);
            }

            for (var offset = 0; offset + 16 <= n;)
            {
                var mask = BitConverter.ToUInt32(buffer, offset + 4);
                var length = BitConverter.ToInt32(buffer, offset + 12);
                var name = Encoding.UTF8.GetString(buffer, offset + 16, length).TrimEnd('\0');
                _onEvent?.Invoke(name, mask);
                UnixFileMode? mode = null;
                try
                {
                    mode = File.GetUnixFileMode(Path.Combine(_directory, name));
                }
                catch (IOException)
                {
                }

                Events.Enqueue((name, mask, mode));
                offset += 16 + length;
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        _reader.Join();
        _ = close(_fd);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int inotify_init1(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int inotify_add_watch(int fd, string path, uint mask);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int poll(PollFd* fds, ulong count, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
