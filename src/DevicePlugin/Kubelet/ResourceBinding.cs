using Grpc.Core;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Which resource a connection to a resource socket belongs to: set on every connection the socket accepts, and read
/// back by each call on it (<see cref="Of"/>), since one server serves every resource's socket.
/// </summary>
public sealed class ResourceBinding(DevicePluginService service, SnapshotFeed feed)
{
    public DevicePluginService Service { get; } = service;

    public SnapshotFeed Feed { get; } = feed;

    /// <summary>The binding of the connection the call came on; null for a connection that is no resource's.</summary>
    public static ResourceBinding? Of(ServerCallContext context) =>
        (context as Hosting.GrpcServerCall)?.Features.Get<ResourceBinding>();

    /// <summary>The binding of the connection the call came on, or the call fails as unimplemented.</summary>
    public static ResourceBinding Require(ServerCallContext context) =>
        Of(context) ?? throw new RpcException(new Status(StatusCode.Unimplemented, "this connection is not a device plugin socket"));
}
