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

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var method = context.Method;
        if (method is not (Allocate or Preferred))
        {
            return continuation(request, context);
        }

        // A call that completes at once (the services answer synchronously) is recorded without a state machine or a
        // second task; one that is still running is awaited.
        var started = Stopwatch.GetTimestamp();
        Task<TResponse> call;
        try
        {
            call = continuation(request, context);
        }
        catch (Exception e)
        {
            Record(context, method, started, ResultOf(e));
            throw;
        }

        if (call.IsCompletedSuccessfully)
        {
            Record(context, method, started, "ok");
            return call;
        }

        return AwaitAsync(call, context, method, started);
    }

    private async Task<TResponse> AwaitAsync<TResponse>(Task<TResponse> call, ServerCallContext context, string method, long started)
    {
        var result = "ok";
        try
        {
            return await call;
        }
        catch (Exception e)
        {
            result = ResultOf(e);
            throw;
        }
        finally
        {
            Record(context, method, started, result);
        }
    }

    private static string ResultOf(Exception e) => e is RpcException r ? r.StatusCode.ToString() : nameof(StatusCode.Unknown);

    private void Record(ServerCallContext context, string method, long started, string result)
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
