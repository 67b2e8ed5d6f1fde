using DevicePlugin.Allocation;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Turns the allocation refusals a resource's service throws into gRPC statuses (<see cref="AllocationStatus"/>) and
/// logs each, so the service and the allocation code speak only in domain terms. Registered after the metrics
/// interceptor, which therefore sees the final status.
/// </summary>
public sealed class AllocationErrorInterceptor(ILogger<AllocationErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (AllocationException e)
        {
            var resource = ResourceBinding.Of(context)?.Feed.Current.ResourceName ?? "";
            if (context.Method == AllocationStatus.PreStartContainerMethod)
            {
                KubeletLog.PreStartRefused(logger, resource, e.Message);
            }
            else if (context.Method == AllocationStatus.GetPreferredAllocationMethod)
            {
                KubeletLog.PreferredAllocationRefused(logger, resource, e.Message);
            }
            else
            {
                KubeletLog.AllocateRefused(logger, resource, e.Message);
            }

            throw new RpcException(new Status(AllocationStatus.CodeOf(e.Kind, context.Method), e.Message));
        }
    }
}
