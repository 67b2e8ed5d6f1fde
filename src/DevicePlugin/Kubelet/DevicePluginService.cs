using DevicePlugin.Allocation;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The kubelet-facing gRPC service of one resource. Every answer comes from the snapshot the feed holds: no I/O and
/// no source calls on the request path.
/// </summary>
public sealed class DevicePluginService(
    SnapshotFeed feed,
    StreamLifetime lifetime,
    ILogger<DevicePluginService> logger) : Api.V1Beta1.DevicePlugin.DevicePluginBase
{
    public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
        Task.FromResult(OptionsFor(feed.Current));

    public static DevicePluginOptions OptionsFor(ResourceSnapshot snapshot) => new()
    {
        PreStartRequired = snapshot.PreStartRequired,
        GetPreferredAllocationAvailable = true,
    };

    public override async Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.Token);
        var sent = feed.Current;
        var resource = sent.ResourceName;
        lifetime.StreamOpened();
        try
        {
            await responseStream.WriteAsync(feed.ListFor(sent), ended.Token);
            KubeletLog.StreamOpened(logger, resource, sent.Advertised.Length);
            while (!ended.IsCancellationRequested)
            {
                await feed.WaitForChangeAsync(sent, ended.Token);
                var current = feed.Current;
                if (!current.SameDeviceListAs(sent))
                {
                    await responseStream.WriteAsync(feed.ListFor(current), ended.Token);
                }

                sent = current;
            }
        }
        catch (OperationCanceledException)
        {
            // Shutdown or re-registration (lifetime), or the kubelet went away (call token): a clean end either way.
        }
        finally
        {
            lifetime.StreamClosed();
            KubeletLog.StreamEnded(logger, resource, lifetime.Token.IsCancellationRequested ? "server stopping" : "closed by the kubelet");
        }
    }

    public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context)
    {
        // Refusals leave as AllocationException; AllocationErrorInterceptor logs them and maps them to a status.
        var snapshot = feed.Current;
        if (request.ContainerRequests.Count == 0)
        {
            throw new AllocationException(AllocationErrorKind.EmptyRequest, $"Allocate for {snapshot.ResourceName} has no container requests");
        }

        foreach (var container in request.ContainerRequests)
        {
            DeviceUsability.CheckLengths(container.DevicesIds);
        }

        var response = new AllocateResponse();
        foreach (var container in request.ContainerRequests)
        {
            response.ContainerResponses.Add(AllocateResponseBuilder.Build(snapshot, container.DevicesIds));
        }

        if (logger.IsEnabled(LogLevel.Debug))
        {
            KubeletLog.Allocated(logger, snapshot.ResourceName, ClientText.Quote(string.Join(';', request.ContainerRequests.Select(c => string.Join(',', c.DevicesIds)))));
        }

        return Task.FromResult(response);
    }

    public override Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context)
    {
        var snapshot = feed.Current;
        foreach (var container in request.ContainerRequests)
        {
            DeviceUsability.CheckLengths(container.AvailableDeviceIDs);
            DeviceUsability.CheckLengths(container.MustIncludeDeviceIDs);
        }

        var response = new PreferredAllocationResponse();
        foreach (var container in request.ContainerRequests)
        {
            var chosen = PreferredAllocator.Choose(snapshot, container.AvailableDeviceIDs, container.MustIncludeDeviceIDs, container.AllocationSize);
            var answer = new ContainerPreferredAllocationResponse();
            answer.DeviceIDs.Add(chosen);
            response.ContainerResponses.Add(answer);
        }

        return Task.FromResult(response);
    }

    public override Task<PreStartContainerResponse> PreStartContainer(PreStartContainerRequest request, ServerCallContext context)
    {
        var snapshot = feed.Current;
        DeviceUsability.CheckLengths(request.DevicesIds);
        foreach (var id in request.DevicesIds)
        {
            if (DeviceUsability.Check(snapshot, id, out _) is { } refusal)
            {
                throw refusal;
            }
        }

        return Task.FromResult(new PreStartContainerResponse());
    }
}
