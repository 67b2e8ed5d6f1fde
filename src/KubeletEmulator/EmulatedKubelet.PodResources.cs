using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.KubeletEmulator;

// PodResources v1: where and how fast it is served (the kubelet's rate limit).
public sealed partial class EmulatedKubelet
{
    /// <summary>
    /// Where PodResources v1 is served while the emulator runs; null (the default) serves none. The kubelet's own
    /// place is <see cref="DefaultPodResourcesSocketPath"/> of the directory.
    /// </summary>
    public string? PodResourcesSocketPath { get; init; }

    /// <summary>PodResources calls allowed per second on average (the kubelet's 100); beyond it calls get RESOURCE_EXHAUSTED.</summary>
    public double PodResourcesRatePerSecond
    {
        get => _podResourcesRate;
        init => _podResourcesRate = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive");
    }

    /// <summary>PodResources calls allowed at once before the rate applies (the kubelet's 10).</summary>
    public int PodResourcesBurst
    {
        get => _podResourcesBurst;
        init => _podResourcesBurst = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive");
    }

    /// <summary>The kubelet's PodResources socket for a device plugin directory: <c>DIR/../pod-resources/kubelet.sock</c>.</summary>
    public static string DefaultPodResourcesSocketPath(string kubeletDirectory) =>
        Path.GetFullPath(Path.Combine(kubeletDirectory, "..", "pod-resources", SocketName));

    private async Task StartPodResourcesAsync(string socketPath, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(socketPath))!);
        TryDelete(socketPath);
        // The kubelet's token bucket: refilled in tenths of a second (10 tokens per 100 ms at 100 per second).
        var perPeriod = Math.Max(1, (int)(PodResourcesRatePerSecond / 10));
        var limiter = new System.Threading.RateLimiting.TokenBucketRateLimiter(new System.Threading.RateLimiting.TokenBucketRateLimiterOptions
        {
            TokenLimit = PodResourcesBurst,
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = TimeSpan.FromSeconds(perPeriod / PodResourcesRatePerSecond),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(_loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socketPath, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        builder.Services.AddSingleton<System.Threading.RateLimiting.RateLimiter>(limiter);
        var app = builder.Build();
        app.MapGrpcService<PodResourcesService>();
        await app.StartAsync(cancellationToken);
        _podResourcesApp = app;
        _podResourcesLimiter = limiter;
    }
}
