using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.KubeletEmulator;

// Registration: the kubelet's validation, the synchronous dial-back inside the call, refusals and held calls.
public sealed partial class EmulatedKubelet
{
    /// <summary>Makes the next <paramref name="count"/> registrations fail with <paramref name="message"/> (status Unknown).</summary>
    public void RejectNext(int count, string message)
    {
        lock (_lock)
        {
            _rejectCount = count;
            _rejectMessage = message;
        }
    }

    /// <summary>
    /// Makes every Register call hang (as a wedged kubelet does) until the returned release is disposed or the caller
    /// gives up.
    /// </summary>
    public IDisposable HoldRegistrations()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _hold = hold;
        }

        return new Release(() =>
        {
            lock (_lock)
            {
                if (_hold == hold)
                {
                    _hold = null;
                }
            }

            hold.TrySetResult();
        });
    }

    internal async Task<Empty> RegisterAsync(RegisterRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _registerCalls);
        Task? held;
        lock (_lock)
        {
            held = _hold?.Task;
        }

        if (held is not null)
        {
            await held.WaitAsync(cancellationToken);
        }

        var receivedAt = _time.GetUtcNow();
        var (serving, problem) = await ProbeEndpointAsync(request.Endpoint, cancellationToken);
        var error = await RegisterCheckedAsync(request, cancellationToken);
        lock (_lock)
        {
            _attempts.Add(new RegistrationAttempt(receivedAt, request, serving, problem, error));
        }

        _changed.Notify();
        if (error is not null)
        {
            throw new RpcException(new Status(StatusCode.Unknown, error));
        }

        PluginConnection? connection;
        lock (_lock)
        {
            _plugins.TryGetValue(request.ResourceName, out connection);
        }

        if (connection is not null)
        {
            Registered?.Invoke(connection);
        }

        return new Empty();
    }

    /// <summary>Connects to the endpoint once, as a plain socket, to see whether anything serves there yet.</summary>
    private async Task<(bool Serving, string? Problem)> ProbeEndpointAsync(string endpoint, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(endpoint) || endpoint.Contains('/', StringComparison.Ordinal))
        {
            return (false, $"endpoint \"{endpoint}\" is not a file name");
        }

        var path = Path.Combine(Directory, endpoint);
        if (!File.Exists(path))
        {
            return (false, $"{path} does not exist");
        }

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path), timeout.Token);
            return (true, null);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return (false, $"{path} did not accept a connection: {e.Message}");
        }
    }

    /// <summary>Validates, dials back and stores the connection; returns the refusal message or null.</summary>
    private async Task<string?> RegisterCheckedAsync(RegisterRequest request, CancellationToken cancellationToken)
    {
        var error = Validate(request);
        lock (_lock)
        {
            if (error is null && _rejectCount > 0)
            {
                _rejectCount--;
                error = _rejectMessage;
            }
        }

        if (error is not null)
        {
            lock (_lock)
            {
                _rejections.Add(error);
            }

            return error;
        }

        int generation;
        PluginConnection? previous;
        lock (_lock)
        {
            generation = _generations.GetValueOrDefault(request.ResourceName) + 1;
            _generations[request.ResourceName] = generation;
            _plugins.TryGetValue(request.ResourceName, out previous);
        }

        // A new registration replaces the old endpoint: the kubelet closes the old connection first.
        if (previous is not null)
        {
            await previous.DisposeAsync();
        }

        var connection = new PluginConnection(request, Path.Combine(Directory, request.Endpoint), generation, _time, OnList, OnStreamEnded);
        try
        {
            await connection.ConnectAsync(cancellationToken);
        }
        catch (Exception e)
        {
            await connection.DisposeAsync();
            var message = $"failed to dial device plugin {request.ResourceName} at {request.Endpoint}: {e.Message}";
            lock (_lock)
            {
                _rejections.Add(message);
            }

            return message;
        }

        lock (_lock)
        {
            _plugins[request.ResourceName] = connection;
        }

        return null;
    }

    private void OnList(PluginConnection connection, RecordedList list)
    {
        _changed.Notify();
        ListReceived?.Invoke(connection, list);
    }

    private void OnStreamEnded(PluginConnection connection)
    {
        _changed.Notify();
        StreamEnded?.Invoke(connection);
    }

    private string? Validate(RegisterRequest request)
    {
        if (request.Version != "v1beta1")
        {
            return $"Requested device plugin version {request.Version} is not supported; supported: [v1beta1]";
        }

        if (ResourceNames.Validate(request.ResourceName) is { } nameError)
        {
            return $"invalid resource name: {nameError}";
        }

        if (string.IsNullOrEmpty(request.Endpoint) || request.Endpoint.Contains('/', StringComparison.Ordinal))
        {
            return $"endpoint \"{request.Endpoint}\" must be a socket file name inside {Directory}";
        }

        return null;
    }

    private sealed class Release(Action release) : IDisposable
    {
        public void Dispose() => release();
    }

    private sealed class RegistrationService(EmulatedKubelet kubelet) : Registration.RegistrationBase
    {
        public override Task<Empty> Register(RegisterRequest request, ServerCallContext context) =>
            kubelet.RegisterAsync(request, context.CancellationToken);
    }
}
