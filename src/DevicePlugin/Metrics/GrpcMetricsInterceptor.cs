using System.Diagnostics;
using DevicePlugin.Kubelet;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace DevicePlugin.Metrics;

/// <summary>
/// Counts and times the allocation calls of every resource socket: <c>device_plugin_allocate_requests_total</c> /
/// <c>_duration_seconds</c> and the <c>preferred_allocation</c> pair, with the result <c>ok</c> or the gRPC status
/// code the call ended with. Registered before <see cref="AllocationErrorInterceptor"/>, so refusals reach it as statuses.
/// </summary>
public sealed class GrpcMetricsInterceptor(ResourceServerContext server) : Interceptor
{
    private const string Allocate = "/v1beta1.DevicePlugin/Allocate";
    private const string Preferred = "/v1beta1.DevicePlugin/GetPreferredAllocation";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var method = context.Method;
        if (method is not (Allocate or Preferred))
        {
            return await continuation(request, context);
        }

        var started = Stopwatch.GetTimestamp();
        var result = "ok";
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException e)
        {
            result = e.StatusCode.ToString();
            throw;
        }
        catch (Exception)
        {
            result = nameof(StatusCode.Unknown);
            throw;
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            var resource = ResourceBinding.Of(context)?.Feed.Current.ResourceName ?? "";
            if (method == Allocate)
            {
                server.Metrics.Allocation(resource, result, elapsed);
            }
            else
            {
                server.Metrics.PreferredAllocation(resource, result, elapsed);
            }
        }
    }
}
