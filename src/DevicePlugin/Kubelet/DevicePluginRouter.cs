using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The one DevicePlugin gRPC service of the daemon's server: passes each call to the service of the resource whose
/// socket the call came through (<see cref="ResourceBinding"/>). Bound by <see cref="DevicePluginMethods"/>, whose
/// request parsers turn malformed protobuf into INVALID_ARGUMENT.
/// </summary>
public sealed class DevicePluginRouter
{
    public Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.GetDevicePluginOptions(request, context);

    public Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.ListAndWatch(request, responseStream, context);

    public Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.Allocate(request, context);

    public Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.GetPreferredAllocation(request, context);

    public Task<PreStartContainerResponse> PreStartContainer(PreStartContainerRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.PreStartContainer(request, context);
}
