using DevicePlugin.Kubelet;
using DevicePlugin.Metrics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;
using Microsoft.AspNetCore.Http.Features;

namespace DevicePlugin.Hosting;

/// <summary>
/// What <see cref="PluginWebHost"/>'s Kestrel server runs for each request: a call on a resource socket goes to the
/// gRPC dispatcher, a request on the metrics listener to the metrics endpoint, anything else is 404. Each request's
/// <see cref="HttpContext"/> is a <see cref="DefaultHttpContext"/> over Kestrel's features, kept with the connection
/// and reused by its next request as ASP.NET Core's own host does.
/// </summary>
internal sealed class PluginHttpApplication(GrpcDispatcher grpc, MetricsEndpoint metrics) : IHttpApplication<HttpContext>
{
    public HttpContext CreateContext(IFeatureCollection contextFeatures)
    {
        if (contextFeatures is IHostContextContainer<HttpContext> container)
        {
            if (container.HostContext is DefaultHttpContext reused)
            {
                reused.Initialize(contextFeatures);
                return reused;
            }

            var created = new DefaultHttpContext(contextFeatures);
            container.HostContext = created;
            return created;
        }

        return new DefaultHttpContext(contextFeatures);
    }

    public Task ProcessRequestAsync(HttpContext context)
    {
        if (context.Features.Get<ResourceBinding>() is not null)
        {
            return grpc.DispatchAsync(context);
        }

        if (context.Features.Get<MonitoringConnection>() is not null)
        {
            return metrics.ServeAsync(context);
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    public void DisposeContext(HttpContext context, Exception? exception)
    {
        if (context is DefaultHttpContext pooled)
        {
            pooled.Uninitialize();
        }
    }
}
