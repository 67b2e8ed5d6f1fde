using DevicePlugin.Allocation;
using Grpc.Core;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The gRPC status of each allocation refusal, as the kubelet API asks: an empty request is INVALID_ARGUMENT, an
/// unknown ID NOT_FOUND, an unhealthy device or two replicas under <c>distinctDevices</c> FAILED_PRECONDITION.
/// An ID longer than any device ID is INVALID_ARGUMENT on every method; PreStartContainer answers every other refusal
/// with FAILED_PRECONDITION.
/// </summary>
public static class AllocationStatus
{
    public const string PreStartContainerMethod = "/v1beta1.DevicePlugin/PreStartContainer";

    public const string GetPreferredAllocationMethod = "/v1beta1.DevicePlugin/GetPreferredAllocation";

    public static StatusCode CodeOf(AllocationErrorKind kind) => kind switch
    {
        AllocationErrorKind.EmptyRequest or AllocationErrorKind.InvalidDeviceId => StatusCode.InvalidArgument,
        AllocationErrorKind.UnknownDevice => StatusCode.NotFound,
        AllocationErrorKind.UnhealthyDevice or AllocationErrorKind.SharedPhysicalDevice => StatusCode.FailedPrecondition,
        _ => StatusCode.Unknown,
    };

    /// <summary>The status a refusal ends <paramref name="method"/> (a full gRPC method name) with.</summary>
    public static StatusCode CodeOf(AllocationErrorKind kind, string method) =>
        method == PreStartContainerMethod && kind != AllocationErrorKind.InvalidDeviceId ? StatusCode.FailedPrecondition : CodeOf(kind);

    extension(AllocationException refusal)
    {
        /// <summary>The gRPC status code of this refusal on Allocate.</summary>
        public StatusCode Code => CodeOf(refusal.Kind);

        public RpcException ToRpcException() => new(new Status(CodeOf(refusal.Kind), refusal.Message));
    }
}
