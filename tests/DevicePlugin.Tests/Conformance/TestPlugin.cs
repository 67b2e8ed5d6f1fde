using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Conformance;

/// <summary>The one rule a <see cref="TestPlugin"/> breaks (None: it keeps every rule).</summary>
public enum PluginFault
{
    None,
    RegisterBeforeServing,
    DuplicateIds,
    WrongPreferredSize,
    PreferredOutsideAvailable,
    StreamEnds,
    MissingDevicePath,
    NoReregistration,
}

/// <summary>
/// A small, independent device plugin (four devices on two NUMA nodes) written directly against the gRPC API, that
/// keeps the kubelet's contract except for the one <see cref="PluginFault"/> it is built with: the conformance
/// checker must catch exactly that.
/// </summary>
public sealed class TestPlugin : IAsyncDisposable
{
    public const string Resource = "example.com/test-device";
    private static readonly (string Id, long Numa)[] Devices = [("dev-0", 0), ("dev-1", 0), ("dev-2", 1), ("dev-3", 1)];

    private readonly string _directory;
    private readonly PluginFault _fault;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private FileSystemWatcher? _watcher;
    private WebApplication? _app;
    private CancellationTokenSource? _stopping;

    public TestPlugin(string directory, PluginFault fault)
    {
        _directory = directory;
        _fault = fault;
    }

    public string Endpoint => "test-plugin.sock";

    public string SocketPath => Path.Combine(_directory, Endpoint);

    public int Registrations { get; private set; }

    public async Task StartAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_fault == PluginFault.RegisterBeforeServing)
            {
                // The rule broken: Register goes out before the endpoint serves (the kubelet refuses it), then it serves
                // and registers again, which works.
                await RegisterAsync(expectFailure: true);
            }

            await ServeAsync();
            await RegisterAsync(expectFailure: false);
        }
        finally
        {
            _gate.Release();
        }

        if (_fault != PluginFault.NoReregistration)
        {
            _watcher = new FileSystemWatcher(_directory, "kubelet.sock") { NotifyFilter = NotifyFilters.FileName };
            _watcher.Created += (_, _) => _ = Task.Run(ReregisterAsync);
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>The kubelet restarted (its socket is new and ours was wiped): serve on a fresh socket, register again.</summary>
    private async Task ReregisterAsync()
    {
        await _gate.WaitAsync();
        try
        {
            await StopServingAsync();
            await ServeAsync();
            await RegisterAsync(expectFailure: false);
        }
        catch (Exception e) when (e is RpcException or IOException)
        {
            // The conformance checker reports the missing registration.
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ServeAsync()
    {
        File.Delete(SocketPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(SocketPath, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var stopping = new CancellationTokenSource();
        builder.Services.AddSingleton(new Service(_fault, stopping.Token));
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        _app = app;
        _stopping = stopping;
    }

    private async Task StopServingAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            // Streams end when the server stops serving (a kubelet restart, shutdown).
            await _stopping!.CancelAsync();
            _stopping.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private async Task RegisterAsync(bool expectFailure)
    {
        using var channel = UnixSocketChannel.Create(Path.Combine(_directory, "kubelet.sock"));
        var client = new Registration.RegistrationClient(channel);
        var request = new RegisterRequest
        {
            Version = "v1beta1",
            Endpoint = Endpoint,
            ResourceName = Resource,
            Options = new DevicePluginOptions { GetPreferredAllocationAvailable = true },
        };
        try
        {
            await client.RegisterAsync(request, deadline: DateTime.UtcNow.AddSeconds(20));
            Registrations++;
        }
        catch (RpcException) when (expectFailure)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        await _gate.WaitAsync();
        try
        {
            await StopServingAsync();
        }
        finally
        {
            _gate.Release();
        }

        File.Delete(SocketPath);
    }

    private sealed class Service(PluginFault fault, CancellationToken stopping) : Api.V1Beta1.DevicePlugin.DevicePluginBase
    {
        public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
            Task.FromResult(new DevicePluginOptions { GetPreferredAllocationAvailable = true });

        public override async Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context)
        {
            var list = new ListAndWatchResponse();
            foreach (var (id, numa) in Devices)
            {
                list.Devices.Add(new Device { ID = id, Health = "Healthy", Topology = new TopologyInfo { Nodes = { new NUMANode { ID = numa } } } });
            }

            if (fault == PluginFault.DuplicateIds)
            {
                list.Devices.Add(new Device { ID = "dev-1", Health = "Healthy" });
            }

            await responseStream.WriteAsync(list);
            if (fault == PluginFault.StreamEnds)
            {
                return;
            }

            using var either = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
            try
            {
                await Task.Delay(Timeout.Infinite, either.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        public override Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context)
        {
            var response = new PreferredAllocationResponse();
            foreach (var c in request.ContainerRequests)
            {
                var size = fault == PluginFault.WrongPreferredSize ? c.AllocationSize + 1 : c.AllocationSize;
                var chosen = c.MustIncludeDeviceIDs.Concat(c.AvailableDeviceIDs).Distinct().Take(size).ToList();
                if (fault == PluginFault.PreferredOutsideAvailable && chosen.Count > 0 && !c.MustIncludeDeviceIDs.Contains(chosen[^1]))
                {
                    chosen[^1] = "dev-not-offered";
                }

                response.ContainerResponses.Add(new ContainerPreferredAllocationResponse { DeviceIDs = { chosen } });
            }

            return Task.FromResult(response);
        }

        public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context)
        {
            var response = new AllocateResponse();
            foreach (var c in request.ContainerRequests)
            {
                if (c.DevicesIds.Count == 0)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, "no device IDs in the container request"));
                }

                if (c.DevicesIds.FirstOrDefault(id => !Devices.Any(d => d.Id == id)) is { } unknown)
                {
                    throw new RpcException(new Status(StatusCode.NotFound, $"unknown device {unknown}"));
                }

                var container = new ContainerAllocateResponse();
                container.Envs["TEST_DEVICES"] = string.Join(",", c.DevicesIds);
                var host = fault == PluginFault.MissingDevicePath ? "/dev/conformance-missing-device" : "/dev/null";
                container.Devices.Add(new DeviceSpec { ContainerPath = "/dev/test-device", HostPath = host, Permissions = "rw" });
                container.CdiDevices.Add(c.DevicesIds.Select(id => new CDIDevice { Name = $"example.com/test-device={id}" }));
                response.ContainerResponses.Add(container);
            }

            return Task.FromResult(response);
        }
    }
}
