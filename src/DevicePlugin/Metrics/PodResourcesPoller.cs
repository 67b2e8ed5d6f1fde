using DevicePlugin.Api;
using DevicePlugin.Api.PodResources.V1;
using DevicePlugin.Hosting;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Metrics;

/// <summary>
/// Asks the kubelet's PodResources v1 API (<c>List</c>) which containers hold which devices: in the background every
/// <see cref="Period"/>, and on a scrape when the last answer is older than that, so List is called at most once per
/// period (far inside the kubelet's rate limit of 100 per second, burst 10). A missing socket, a refused or slow call
/// (<see cref="CallTimeout"/>) or an answer that cannot be read leaves <see cref="Up"/> false and the holders empty;
/// nothing is thrown to the caller. The change between answering and not answering is logged once each way.
/// A new connection is made for each call, so a kubelet restart (a new socket) is followed at once. The background
/// poll is the loop <c>pod-resources-poll</c>: anything else a pass throws is logged, shown on /readyz and in the loop
/// metrics, and the next period tries again.
/// </summary>
public sealed class PodResourcesPoller : IDeviceHolders, IAsyncDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(3);

    /// <summary>More holders than any node has: an answer past it is cut here (labels stay bounded).</summary>
    public const int MaxHolders = 10_000;

    private readonly string _socket;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _clock = new();
    private readonly BackgroundLoop _loop;
    private volatile State _state = new(false, [], null);
    private DateTimeOffset? _lastAttempt;
    private bool? _loggedUp;

    /// <param name="loops">Where the poll loop's failures show (/readyz and the background_loop metrics); none when null.</param>
    public PodResourcesPoller(string socket, TimeProvider time, ILogger<PodResourcesPoller> logger, LoopHealth? loops = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socket);
        _socket = socket;
        _time = time;
        _logger = logger;
        _loop = new BackgroundLoop("pod-resources-poll", RefreshIfStaleAsync, logger, loops, period: Period, retryAfter: Period);
    }

    public string Socket => _socket;

    public bool Up => _state.Up;

    public IReadOnlyList<DeviceHolder> Holders => _state.Holders;

    /// <summary>Why the last call failed; null while it answers.</summary>
    public string? LastError => _state.Error;

    /// <summary>Starts the background poll (the first call at once).</summary>
    public void Start()
    {
        _loop.Start();
        _loop.Wake();
    }

    public async Task RefreshIfStaleAsync(CancellationToken cancellationToken)
    {
        if (!IsStale())
        {
            return;
        }

        // One call at a time; a scrape that finds one running uses what the last answer said.
        if (!await _gate.WaitAsync(0, CancellationToken.None))
        {
            return;
        }

        try
        {
            if (IsStale())
            {
                await PollAsync(cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool IsStale()
    {
        lock (_clock)
        {
            return _lastAttempt is not { } last || _time.GetUtcNow() - last >= Period;
        }
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        lock (_clock)
        {
            _lastAttempt = _time.GetUtcNow();
        }

        State next;
        if (!File.Exists(_socket))
        {
            next = new State(false, [], $"the socket {_socket} does not exist");
        }
        else
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(CallTimeout);
                using var channel = UnixSocketChannel.Create(_socket, CallTimeout);
                var client = new PodResourcesLister.PodResourcesListerClient(channel);
                var response = await client.ListAsync(new ListPodResourcesRequest(), cancellationToken: timeout.Token);
                next = new State(true, HoldersOf(response), null);
            }
            catch (RpcException e)
            {
                next = new State(false, [], $"List answered {e.StatusCode}: {e.Status.Detail}");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                next = new State(false, [], $"List did not answer within {CallTimeout.TotalSeconds:0} s");
            }
            catch (Exception e) when (e is IOException or HttpRequestException or InvalidOperationException)
            {
                next = new State(false, [], e.Message);
            }
        }

        _state = next;
        if (_loggedUp != next.Up)
        {
            _loggedUp = next.Up;
            if (next.Up)
            {
                MetricsLog.PodResourcesUp(_logger, _socket, next.Holders.Length);
            }
            else
            {
                MetricsLog.PodResourcesDown(_logger, _socket, next.Error ?? "");
            }
        }
    }

    /// <summary>One holder per (resource, device ID, container), in the kubelet's order, at most <see cref="MaxHolders"/>.</summary>
    public static DeviceHolder[] HoldersOf(ListPodResourcesResponse response)
    {
        var holders = new List<DeviceHolder>();
        foreach (var pod in response.PodResources)
        {
            foreach (var container in pod.Containers)
            {
                foreach (var devices in container.Devices)
                {
                    foreach (var id in devices.DeviceIds)
                    {
                        if (holders.Count == MaxHolders)
                        {
                            return [.. holders];
                        }

                        holders.Add(new DeviceHolder(devices.ResourceName, id, pod.Namespace, pod.Name, container.Name));
                    }
                }
            }
        }

        return [.. holders];
    }

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    private sealed record State(bool Up, DeviceHolder[] Holders, string? Error);
}
