using System.Net.Sockets;
using Grpc.Net.Client;

namespace DevicePlugin.Api;

/// <summary>
/// gRPC channels over a Unix domain socket, HTTP/2 with prior knowledge and <c>:authority</c> <c>localhost</c>, as the
/// kubelet (since 1.26) dials plugins and plugins dial the kubelet.
/// </summary>
public static class UnixSocketChannel
{
    public static GrpcChannel Create(string socketPath, TimeSpan? connectTimeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10),
            // The kubelet sends no keepalive pings; neither do we.
            KeepAlivePingDelay = Timeout.InfiniteTimeSpan,
            EnableMultipleHttp2Connections = false,
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };

        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 4 * 1024 * 1024,
        });
    }
}
