using Grpc.Core;

namespace DevicePlugin.Allocation;

/// <summary>A request the plugin refuses; carries the gRPC status code and a message naming the ID.</summary>
public sealed class AllocationException(StatusCode code, string message) : Exception(message)
{
    public StatusCode Code { get; } = code;

    public RpcException ToRpcException() => new(new Status(Code, Message));
}
