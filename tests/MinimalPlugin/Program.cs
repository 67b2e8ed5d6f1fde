using System.Runtime.InteropServices;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// minimal-plugin --kubelet-dir DIR [--resources N] [--devices M]
// Serves N resources (bench.example.com/r0 … rN-1) of M healthy devices each, one Kestrel host per resource, and
// registers each with the kubelet; runs until SIGTERM. Exit 2 on a bad argument, 1 when a registration fails.
var kubeletDir = "/var/lib/kubelet/device-plugins";
var resources = 1;
var devices = 8;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--kubelet-dir":
            kubeletDir = args[i + 1];
            break;
        case "--resources" when int.TryParse(args[i + 1], out var r) && r is > 0 and <= 64:
            resources = r;
            break;
        case "--devices" when int.TryParse(args[i + 1], out var d) && d is > 0 and <= 4096:
            devices = d;
            break;
        default:
            await Console.Error.WriteLineAsync($"minimal-plugin: bad argument {args[i]} {args[i + 1]}");
            return 2;
    }
}

var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.TrySetResult();
});

var hosts = await Task.WhenAll(Enumerable.Range(0, resources).Select(r => ServeAndRegisterAsync($"bench.example.com/r{r}")));
await stop.Task;
foreach (var host in hosts)
{
    await host.StopAsync();
}

return 0;

async Task<WebApplication> ServeAndRegisterAsync(string resource)
{
    var endpoint = "minimal-" + resource.Replace('/', '_') + ".sock";
    var socket = Path.Combine(kubeletDir, endpoint);
    File.Delete(socket);
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socket, o => o.Protocols = HttpProtocols.Http2));
    builder.Services.AddGrpc();
    builder.Services.AddSingleton(new Inventory(resource, devices));
    var app = builder.Build();
    app.MapGrpcService<MinimalService>();
    await app.StartAsync();
    using var channel = UnixSocketChannel.Create(Path.Combine(kubeletDir, "kubelet.sock"));
    await new Registration.RegistrationClient(channel).RegisterAsync(new RegisterRequest
    {
        Version = "v1beta1",
        Endpoint = endpoint,
        ResourceName = resource,
        Options = new DevicePluginOptions(),
    });
    return app;
}

/// <summary>A fixed list of healthy devices: d0 … dM-1, each with the device node /dev/benchN.</summary>
internal sealed class Inventory
{
    public Inventory(string resource, int count)
    {
        Resource = resource;
        Ids = [.. Enumerable.Range(0, count).Select(i => $"d{i}")];
        List = new ListAndWatchResponse();
        List.Devices.Add(Ids.Select(id => new Device { ID = id, Health = "Healthy" }));
    }

    public string Resource { get; }

    public string[] Ids { get; }

    public ListAndWatchResponse List { get; }
}

internal sealed class MinimalService(Inventory inventory) : DevicePlugin.Api.V1Beta1.DevicePlugin.DevicePluginBase
{
    public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
        Task.FromResult(new DevicePluginOptions());

    public override async Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context)
    {
        await responseStream.WriteAsync(inventory.List);
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context)
    {
        var response = new AllocateResponse();
        foreach (var container in request.ContainerRequests)
        {
            var answer = new ContainerAllocateResponse();
            foreach (var id in container.DevicesIds)
            {
                if (Array.IndexOf(inventory.Ids, id) < 0)
                {
                    throw new RpcException(new Status(StatusCode.NotFound, $"unknown device {id}"));
                }

                var node = "/dev/bench" + id[1..];
                answer.Devices.Add(new DeviceSpec { ContainerPath = node, HostPath = node, Permissions = "rw" });
            }

            answer.Envs["BENCH_VISIBLE_DEVICES"] = string.Join(',', container.DevicesIds);
            response.ContainerResponses.Add(answer);
        }

        return Task.FromResult(response);
    }
}
