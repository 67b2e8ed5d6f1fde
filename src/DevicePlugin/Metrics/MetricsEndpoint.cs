using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace DevicePlugin.Metrics;

/// <summary>
/// The HTTP endpoint for monitoring: <c>GET /metrics</c> (Prometheus text format, from prometheus-net, which also
/// exports every System.Diagnostics.Metrics meter), <c>GET /healthz</c> (200 while the process runs) and
/// <c>GET /readyz</c> (200 once every advertised resource is registered with the kubelet, else 503).
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly IPEndPoint _endpoint;
    private readonly Func<bool> _ready;
    private readonly Func<string> _readiness;
    private readonly Prometheus.CollectorRegistry _registry;
    private WebApplication? _app;

    public MetricsEndpoint(IPEndPoint endpoint, Prometheus.CollectorRegistry registry, Func<bool> ready, Func<string> readinessDetail)
    {
        _registry = registry;
        _endpoint = endpoint;
        _ready = ready;
        _readiness = readinessDetail;
    }

    /// <summary>The bound address (with the real port when 0 was asked for); null before start.</summary>
    public Uri? Address { get; private set; }

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

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The empty builder reads no appsettings*.json, ASPNETCORE_*/DOTNET_* variables or command line: nothing from
        // outside the daemon's own flags can add a listener (Kestrel__Endpoints, ASPNETCORE_URLS) or change logging,
        // and nothing watches the working directory (/ in a container, where /sys and /dev are mounted).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.WebHost.ConfigureKestrel(k => k.Listen(_endpoint));
        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => _ready()
            ? Results.Text("ready\n")
            : Results.Text(_readiness() + "\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await _registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        Address = bound is null ? null : new Uri(bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        _app = app;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
