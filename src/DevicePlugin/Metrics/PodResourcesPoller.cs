using DevicePlugin.Api;
using DevicePlugin.Api.PodResources.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Metrics;

/// <summary>
/// Asks the kubelet's PodResources v1 API (<c>List</c>) which containers hold which devices: in the background every
/// <see cref="Period"/>, and on a scrape when the last answer is older than that, so List is called at most once per
/// period (far inside the kubelet's rate limit of 100 per second, burst 10). A missing socket, a refused or slow call
/// (<see cref="CallTimeout"/>) or an answer that cannot be read leaves <see cref="Up"/> false and the holders empty;
/// nothing is thrown to the caller. The change between answering and not answering is logged once each way.
/// A new connection is made for each call, so a kubelet restart (a new socket) is followed at once.
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
    private readonly CancellationTokenSource _stop = new();
    private volatile State _state = new(false, [], null);
    private DateTimeOffset? _lastAttempt;
    private bool? _loggedUp;
    private Task _loop = Task.CompletedTask;

    public PodResourcesPoller(string socket, TimeProvider time, ILogger<PodResourcesPoller> logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(socket);
        _socket = socket;
        _time = time;
        _logger = logger;
    }

    public string Socket => _socket;

    public bool Up => _state.Up;

    public IReadOnlyList<DeviceHolder> Holders => _state.Holders;

    /// <summary>Why the last call failed; null while it answers.</summary>
    public string? LastError => _state.Error;

    /// <summary>Starts the background poll (the first call at once).</summary>
    public void Start() => _loop = Task.Run(LoopAsync, CancellationToken.None);

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

    private async Task LoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await RefreshIfStaleAsync(token);
                await Task.Delay(Period, _time, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The loop outlives anything a call can throw; the next period tries again.
                MetricsLog.PodResourcesLoopFailed(_logger, e);
                try
                {
                    await Task.Delay(Period, _time, token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
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

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private sealed record State(bool Up, DeviceHolder[] Holders, string? Error);
}
