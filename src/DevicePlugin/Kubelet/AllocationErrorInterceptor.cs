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
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        // The services answer synchronously (a refusal is thrown, an answer is a completed task), so the common call
        // passes through without a state machine or a second task; one that is still running is awaited.
        Task<TResponse> call;
        try
        {
            call = continuation(request, context);
        }
        catch (AllocationException e)
        {
            throw Refused(e, context);
        }

        return call.IsCompletedSuccessfully ? call : AwaitAsync(call, context);
    }

    private async Task<TResponse> AwaitAsync<TResponse>(Task<TResponse> call, ServerCallContext context)
    {
        try
        {
            return await call;
        }
        catch (AllocationException e)
        {
            throw Refused(e, context);
        }
    }

    /// <summary>Logs the refusal and gives the status that answers it.</summary>
    private RpcException Refused(AllocationException e, ServerCallContext context)
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

        return new RpcException(new Status(AllocationStatus.CodeOf(e.Kind, context.Method), e.Message));
    }
}
