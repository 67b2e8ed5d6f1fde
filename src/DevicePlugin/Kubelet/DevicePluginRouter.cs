using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The one DevicePlugin gRPC service of the daemon's server: passes each call to the service of the resource whose
/// socket the call came through (<see cref="ResourceBinding"/>).
/// </summary>
public sealed class DevicePluginRouter : Api.V1Beta1.DevicePlugin.DevicePluginBase
{
    public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.GetDevicePluginOptions(request, context);

    public override Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.ListAndWatch(request, responseStream, context);

    public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.Allocate(request, context);

    public override Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.GetPreferredAllocation(request, context);

    public override Task<PreStartContainerResponse> PreStartContainer(PreStartContainerRequest request, ServerCallContext context) =>
        ResourceBinding.Require(context).Service.PreStartContainer(request, context);
}
