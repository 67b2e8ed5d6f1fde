using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;
using Grpc.Net.Client;

namespace DevicePlugin.KubeletEmulator;

/// <summary>
/// The emulated kubelet's side of one registration: the channel it dialled back on, the ListAndWatch stream it reads,
/// every list it received, and the calls a kubelet makes at pod admission.
/// </summary>
public sealed class PluginConnection : IAsyncDisposable
{
    private readonly GrpcChannel _channel;
    private readonly Api.V1Beta1.DevicePlugin.DevicePluginClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<RecordedList> _lists = [];
    private readonly TimeProvider _time;
    private readonly ChangeSignal _changed = new();
    private Task _reader = Task.CompletedTask;
    private int _disposed;

    private readonly Action<PluginConnection, RecordedList>? _onList;
    private readonly Action<PluginConnection>? _onEnded;

    internal PluginConnection(
        RegisterRequest request, string socketPath, int generation, TimeProvider time,
        Action<PluginConnection, RecordedList>? onList = null, Action<PluginConnection>? onEnded = null)
    {
        _onList = onList;
        _onEnded = onEnded;
        ResourceName = request.ResourceName;
        Endpoint = request.Endpoint;
        SocketPath = socketPath;
        RegisteredOptions = request.Options ?? new DevicePluginOptions();
        Generation = generation;
        _time = time;
        RegisteredAt = time.GetUtcNow();
        _channel = UnixSocketChannel.Create(socketPath, TimeSpan.FromSeconds(10));
        _client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(_channel);
    }

    /// <summary>The registered extended resource name.</summary>
    public string ResourceName { get; }

    /// <summary>The endpoint file name the plugin registered.</summary>
    public string Endpoint { get; }

    /// <summary>The plugin's socket: the endpoint inside the kubelet directory.</summary>
    public string SocketPath { get; }

    /// <summary>The options sent in RegisterRequest.</summary>
    public DevicePluginOptions RegisteredOptions { get; }

    /// <summary>The options the plugin answered to GetDevicePluginOptions (what a kubelet uses).</summary>
    public DevicePluginOptions Options { get; private set; } = new();

    /// <summary>1 for the first registration of this resource since the emulator started, then 2, ….</summary>
    public int Generation { get; }

    /// <summary>When the registration was accepted (after the dial-back).</summary>
    public DateTimeOffset RegisteredAt { get; }

    /// <summary>True once the ListAndWatch stream ended (a real kubelet then marks every device unhealthy).</summary>
    public bool StreamEnded { get; private set; }

    /// <summary>How the stream ended: null while open, else the status.</summary>
    public Status? StreamEndStatus { get; private set; }

    /// <summary>Every ListAndWatch list received on this connection, oldest first.</summary>
    public IReadOnlyList<RecordedList> Lists
    {
        get
        {
            lock (_lock)
            {
                return _lists.ToArray();
            }
        }
    }

    /// <summary>The newest list, or null before the first.</summary>
    public RecordedList? LatestList
    {
        get
        {
            lock (_lock)
            {
                return _lists.Count == 0 ? null : _lists[^1];
            }
        }
    }

    /// <summary>Dials back as the kubelet does inside Register: GetDevicePluginOptions, then opens ListAndWatch.</summary>
    internal async Task ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        Options = await _client.GetDevicePluginOptionsAsync(new Empty(), cancellationToken: timeout.Token);
        var call = _client.ListAndWatch(new Empty(), cancellationToken: _stop.Token);
        _reader = Task.Run(() => ReadAsync(call), CancellationToken.None);
    }

    private async Task ReadAsync(AsyncServerStreamingCall<ListAndWatchResponse> call)
    {
        using (call)
        {
            try
            {
                while (await call.ResponseStream.MoveNext(_stop.Token))
                {
                    var list = new RecordedList(_time.GetUtcNow(), call.ResponseStream.Current.Devices.ToArray());
                    lock (_lock)
                    {
                        _lists.Add(list);
                    }

                    _changed.Notify();
                    _onList?.Invoke(this, list);
                }

                StreamEndStatus = Status.DefaultSuccess;
            }
            catch (RpcException e)
            {
                StreamEndStatus = e.Status;
            }
            catch (OperationCanceledException)
            {
                StreamEndStatus = new Status(StatusCode.Cancelled, "closed by the kubelet");
            }
            catch (Exception e)
            {
                StreamEndStatus = new Status(StatusCode.Unavailable, e.Message);
            }

            StreamEnded = true;
            _changed.Notify();
            _onEnded?.Invoke(this);
        }
    }


    /// <summary>Waits for a received list that satisfies <paramref name="predicate"/> (the latest counts too).</summary>
    public async Task<RecordedList> WaitForListAsync(Func<RecordedList, bool> predicate, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Next;
                if (_lists.Count > 0 && predicate(_lists[^1]))
                {
                    return _lists[^1];
                }
            }

            if (StreamEnded)
            {
                throw new InvalidOperationException($"the ListAndWatch stream of {ResourceName} ended ({StreamEndStatus}) before the expected list came");
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no ListAndWatch list of {ResourceName} matched within {timeout.TotalSeconds:0.#} s; the last was: "
                    + (LatestList is { } l ? string.Join(", ", l.Devices.Select(d => $"{d.ID}={d.Health}")) : "none"));
            }
        }
    }

    /// <summary>Waits until the stream has ended.</summary>
    public async Task WaitForStreamEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!StreamEnded)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Next;
            }

            if (StreamEnded)
            {
                break;
            }

            await changed.WaitAsync(cts.Token);
        }
    }

    /// <summary>Calls GetDevicePluginOptions again (10 s deadline): a plugin that still answers is still serving.</summary>
    public async Task<DevicePluginOptions> GetDevicePluginOptionsAsync(CancellationToken cancellationToken = default) =>
        await _client.GetDevicePluginOptionsAsync(new Empty(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);

    /// <summary>Sends a GetPreferredAllocation request as it is (30 s deadline).</summary>
    public async Task<PreferredAllocationResponse> GetPreferredAllocationAsync(PreferredAllocationRequest request, CancellationToken cancellationToken = default) =>
        await _client.GetPreferredAllocationAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);

    /// <summary>Allocate with one container request for <paramref name="deviceIds"/> (30 s deadline).</summary>
    public Task<AllocateResponse> AllocateAsync(params string[] deviceIds)
    {
        var request = new AllocateRequest();
        var container = new ContainerAllocateRequest();
        container.DevicesIds.Add(deviceIds);
        request.ContainerRequests.Add(container);
        return AllocateAsync(request);
    }

    /// <summary>Sends <paramref name="request"/> as it is (30 s deadline).</summary>
    public async Task<AllocateResponse> AllocateAsync(AllocateRequest request) =>
        await AllocateAsync(request, CancellationToken.None);

    /// <summary>Sends <paramref name="request"/> as it is (30 s deadline).</summary>
    public async Task<AllocateResponse> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken) =>
        await _client.AllocateAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);

    /// <summary>One GetPreferredAllocation call with one container request, as the kubelet sends it; returns that container's IDs.</summary>
    public async Task<IReadOnlyList<string>> GetPreferredAllocationAsync(
        IEnumerable<string> available, IEnumerable<string> mustInclude, int size) =>
        await GetPreferredAllocationAsync(available, mustInclude, size, CancellationToken.None);

    /// <summary>One GetPreferredAllocation call with one container request, as the kubelet sends it; returns that container's IDs.</summary>
    public async Task<IReadOnlyList<string>> GetPreferredAllocationAsync(
        IEnumerable<string> available, IEnumerable<string> mustInclude, int size, CancellationToken cancellationToken)
    {
        var container = new ContainerPreferredAllocationRequest { AllocationSize = size };
        container.AvailableDeviceIDs.Add(available);
        container.MustIncludeDeviceIDs.Add(mustInclude);
        var request = new PreferredAllocationRequest();
        request.ContainerRequests.Add(container);
        var response = await _client.GetPreferredAllocationAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        return response.ContainerResponses.Count == 0 ? [] : response.ContainerResponses[0].DeviceIDs.ToArray();
    }

    /// <summary>PreStartContainer with <paramref name="deviceIds"/> (30 s deadline).</summary>
    public async Task PreStartContainerAsync(params string[] deviceIds) =>
        await PreStartContainerAsync(deviceIds, CancellationToken.None);

    /// <summary>PreStartContainer with the container's device IDs (the kubelet's 30 s timeout).</summary>
    public async Task PreStartContainerAsync(IEnumerable<string> deviceIds, CancellationToken cancellationToken)
    {
        var request = new PreStartContainerRequest();
        request.DevicesIds.Add(deviceIds);
        await _client.PreStartContainerAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
    }

    /// <summary>Closes the connection as the kubelet does when it replaces or drops an endpoint.</summary>
    public async ValueTask DisposeAsync()
    {
        // Closed once: a replaced registration's connection may be closed again when the emulator stops.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _reader;
        }
        catch (Exception)
        {
            // The reader records its own end.
        }

        _channel.Dispose();
        _stop.Dispose();
    }
}
