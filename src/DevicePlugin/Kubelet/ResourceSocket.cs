using System.Net.Sockets;
using DevicePlugin.Hosting;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// One serving generation of a resource's socket in the kubelet directory: the socket file, the connections accepted
/// on it (served by the daemon's one server, <see cref="PluginWebHost"/>) and the ListAndWatch streams they opened.
/// A kubelet restart or an options change closes a generation and opens the next; other resources' sockets and
/// streams are not touched.
/// </summary>
internal sealed class ResourceSocket
{
    private static int s_staging;

    private readonly SocketAcceptor _acceptor;
    private readonly StreamLifetime _lifetime;

    private ResourceSocket(SocketAcceptor acceptor, StreamLifetime lifetime)
    {
        _acceptor = acceptor;
        _lifetime = lifetime;
    }

    /// <summary>ListAndWatch streams open on this generation now.</summary>
    public int OpenStreams => _lifetime.OpenStreams;

    /// <summary>
    /// Deletes a stale socket at <paramref name="socketPath"/>, binds a new one and serves it. The socket is bound
    /// inside a private directory (0700: nobody else can reach it there), made 0600, and then renamed into the kubelet
    /// directory, so it never exists there with any other mode, whatever the umask.
    /// </summary>
    public static ResourceSocket Open(ResourceServerContext context, string socketPath, SnapshotFeed feed)
    {
        var directory = context.KubeletDirectory;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException(
                $"the kubelet directory {directory} does not exist (is the kubelet running, and is the directory mounted into the container?)");
        }

        if (context.DirectoryLock is { } instance && !instance.Ensure())
        {
            throw new DirectoryNotFoundException($"the kubelet directory {directory} does not exist");
        }

        DeleteFile(context, socketPath);
        var staging = Path.Combine(directory, $".dp-staging-{Environment.ProcessId}-{Interlocked.Increment(ref s_staging)}");
        var staged = Path.Combine(staging, "s");
        DeleteStaging(staging);
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(staged));
            socket.Listen(512);
            // Only the kubelet (root) may talk to us.
            File.SetUnixFileMode(staged, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(staged, socketPath, overwrite: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            DeleteStaging(staging);
        }

        var lifetime = new StreamLifetime();
        var service = new DevicePluginService(feed, lifetime, context.Loggers.CreateLogger<DevicePluginService>());
        var binding = new ResourceBinding(service, feed);
        return new ResourceSocket(context.Host.AddResourceSocket(socket, binding, socketPath), lifetime);
    }

    /// <summary>
    /// Ends the generation's streams and stops accepting at once; the task completes when its connections have closed
    /// (asked to, then aborted after <paramref name="grace"/>).
    /// </summary>
    public async Task CloseAsync(TimeSpan grace)
    {
        // End our streams first so the connections can close gracefully.
        _lifetime.EndAll();
        await _acceptor.CloseAsync(grace);
        // The lifetime is not disposed: a stream aborted after the grace may still be reading its token.
    }

    /// <summary>Deletes the socket file, unless another daemon owns the directory now (then it is that one's socket).</summary>
    public static void DeleteFile(ResourceServerContext context, string socketPath)
    {
        if (context.DirectoryLock is { IsHeld: false })
        {
            return;
        }

        try
        {
            File.Delete(socketPath);
        }
        catch (IOException)
        {
        }
    }

    private static void DeleteStaging(string staging)
    {
        try
        {
            Directory.Delete(staging, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not there (the usual case), or already going.
        }
    }
}
