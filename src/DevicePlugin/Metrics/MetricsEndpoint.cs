using System.Net;
using DevicePlugin.Hosting;

namespace DevicePlugin.Metrics;

/// <summary>
/// The HTTP endpoint for monitoring: <c>GET /metrics</c> (Prometheus text format, from prometheus-net, which also
/// exports every System.Diagnostics.Metrics meter), <c>GET /healthz</c> (200 while the process runs) and
/// <c>GET /readyz</c> (200 once every advertised resource is registered with the kubelet, else 503). Served by the
/// daemon's one server (<see cref="PluginWebHost"/>), on the connections of the metrics listener only
/// (<see cref="PluginHttpApplication"/>).
/// </summary>
public sealed class MetricsEndpoint(Prometheus.CollectorRegistry registry, Func<bool> ready, Func<string> readinessDetail)
{
    public static bool TryParseAddress(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        var colon = text.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(text.AsSpan(colon + 1), out var port) || port is < 0 or > 65535)
        {
            return false;
        }

        var host = text[..colon].Trim('[', ']');
        IPAddress? address;
        if (host.Length == 0)
        {
            address = IPAddress.Any;
        }
        else if (host == "localhost")
        {
            address = IPAddress.Loopback;
        }
        else if (!IPAddress.TryParse(host, out address))
        {
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>The URL to print for a bound listener (a wildcard address is shown as the loopback one).</summary>
    public static Uri AddressOf(IPEndPoint bound)
    {
        var address = bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback : bound.Address;
        return new Uri($"http://{new IPEndPoint(address, bound.Port)}");
    }

    /// <summary>
    /// What the log says the listener is bound on: the address as bound (a wildcard stays a wildcard, saying it means
    /// every address of the host), never the loopback URL that <see cref="AddressOf"/> gives for connecting.
    /// </summary>
    public static string Describe(IPEndPoint bound) =>
        bound.Address.Equals(IPAddress.Any) ? $"http://{bound} (every IPv4 address of the host)"
        : bound.Address.Equals(IPAddress.IPv6Any) ? $"http://{bound} (every address of the host)"
        : $"http://{bound}";

    /// <summary>
    /// Answers one request of the metrics listener: <c>GET</c> of the three paths; another method on them is 405, any
    /// other path 404.
    /// </summary>
    public async Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        var path = context.Request.Path.Value;
        if (path is not ("/healthz" or "/readyz" or "/metrics"))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsGet(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET";
            return;
        }

        if (path == "/metrics")
        {
            response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await registry.CollectAndExportAsTextAsync(response.Body, context.RequestAborted);
            return;
        }

        var ok = path == "/healthz" || ready();
        response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(path == "/healthz" ? "ok\n" : ok ? "ready\n" : readinessDetail() + "\n", context.RequestAborted);
    }
}
