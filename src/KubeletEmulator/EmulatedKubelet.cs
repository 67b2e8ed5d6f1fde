using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.KubeletEmulator;

/// <summary>
/// A kubelet stand-in that behaves, for the device plugin API, as the real one does: on start it creates its directory,
/// deletes every socket there (not <c>kubelet_internal_checkpoint</c>) and listens on <c>kubelet.sock</c>; Register is
/// validated like the kubelet's, and inside the call it dials the plugin back (GetDevicePluginOptions, then opens
/// ListAndWatch). Every list is recorded with its time. It can restart like the kubelet. It admits pods as the
/// kubelet's device manager does (<see cref="AdmitPodAsync"/>) and, when <see cref="PodResourcesSocketPath"/> is set,
/// serves PodResources v1 from those pods on that socket.
/// </summary>
public sealed partial class EmulatedKubelet : IAsyncDisposable
{
    /// <summary>The Registration socket's file name in the directory.</summary>
    public const string SocketName = "kubelet.sock";
    /// <summary>The kubelet's checkpoint file, which a restart leaves alone.</summary>
    public const string CheckpointName = "kubelet_internal_checkpoint";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, PluginConnection> _plugins = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _generations = new(StringComparer.Ordinal);
    private readonly List<string> _rejections = [];
    private readonly List<RegistrationAttempt> _attempts = [];
    private readonly List<PluginConnection> _detached = [];
    private readonly ILoggerFactory? _loggers;
    private readonly TimeProvider _time;
    private readonly ChangeSignal _changed = new();
    private WebApplication? _app;
    private WebApplication? _podResourcesApp;
    private double _podResourcesRate = 100;
    private int _podResourcesBurst = 10;
    private System.Threading.RateLimiting.RateLimiter? _podResourcesLimiter;
    private int _rejectCount;
    private string _rejectMessage = "";
    private TaskCompletionSource? _hold;
    private int _registerCalls;

    /// <summary>An emulated kubelet for the device plugin directory <paramref name="directory"/>; nothing happens until <see cref="StartAsync"/>.</summary>
    /// <param name="directory">The device plugin directory (the kubelet's <c>/var/lib/kubelet/device-plugins</c>).</param>
    /// <param name="loggers">Where the emulator's ASP.NET Core servers log; null logs nothing.</param>
    /// <param name="time">The clock for recorded times; the system clock by default.</param>
    public EmulatedKubelet(string directory, ILoggerFactory? loggers = null, TimeProvider? time = null)
    {
        Directory = Path.GetFullPath(directory);
        _loggers = loggers;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The device plugin directory, as a full path.</summary>
    public string Directory { get; }

    /// <summary>The Registration socket plugins dial: <c>DIR/kubelet.sock</c>.</summary>
    public string SocketPath => Path.Combine(Directory, SocketName);

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

    /// <summary>Called after each accepted registration (from the Register call, after the dial-back).</summary>
    public event Action<PluginConnection>? Registered;

    /// <summary>Called when a plugin's ListAndWatch stream delivers a list (on the stream's reader; keep it short).</summary>
    public event Action<PluginConnection, RecordedList>? ListReceived;

    /// <summary>Called when a plugin's ListAndWatch stream ends, for whatever reason (see <see cref="PluginConnection.StreamEndStatus"/>).</summary>
    public event Action<PluginConnection>? StreamEnded;

    /// <summary>Every Register call received since construction, oldest first, accepted or not.</summary>
    public IReadOnlyList<RegistrationAttempt> RegistrationAttempts
    {
        get
        {
            lock (_lock)
            {
                return _attempts.ToArray();
            }
        }
    }

    /// <summary>The messages of refused registrations, oldest first.</summary>
    public IReadOnlyList<string> Rejections
    {
        get
        {
            lock (_lock)
            {
                return _rejections.ToArray();
            }
        }
    }

    /// <summary>
    /// Completes at the next change: a registration attempt, a list, a stream end, a pod admitted or removed. Take it,
    /// re-read the state you wait for, then await it.
    /// </summary>
    public Task NextChange => _changed.Next;

    /// <summary>True between <see cref="StartAsync"/> and <see cref="StopAsync()"/>.</summary>
    public bool IsRunning => _app is not null;

    /// <summary>Register calls received, accepted or not.</summary>
    public int RegisterCalls => Volatile.Read(ref _registerCalls);

    /// <summary>The current connection per resource name.</summary>
    public IReadOnlyDictionary<string, PluginConnection> Plugins
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, PluginConnection>(_plugins, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>
    /// Starts as the kubelet does: creates the directory (0750), deletes every socket in it except the checkpoint,
    /// listens on <see cref="SocketPath"/>, and serves PodResources when <see cref="PodResourcesSocketPath"/> is set.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is already running.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("the emulated kubelet is already running");
        }

        System.IO.Directory.CreateDirectory(Directory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        }

        WipeSockets();

        // The empty builder reads no appsettings.json from the working directory and so watches nothing there.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(_loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));

        builder.WebHost.ConfigureKestrel(k =>
            k.ListenUnixSocket(SocketPath, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        var app = builder.Build();
        app.MapGrpcService<RegistrationService>();
        await app.StartAsync(cancellationToken);
        _app = app;
        if (PodResourcesSocketPath is { } podResources)
        {
            await StartPodResourcesAsync(podResources, cancellationToken);
        }
    }

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

    /// <summary>Stops listening and drops every plugin connection (their streams end), as a kubelet going away.</summary>
    public Task StopAsync() => StopAsync(closeStreams: true);

    private async Task<IReadOnlyList<PluginConnection>> StopAsync(bool closeStreams)
    {
        var app = _app;
        _app = null;
        PluginConnection[] plugins;
        lock (_lock)
        {
            plugins = _plugins.Values.ToArray();
            _plugins.Clear();
            if (!closeStreams)
            {
                _detached.AddRange(plugins);
            }
        }

        if (closeStreams)
        {
            foreach (var p in plugins.Concat(TakeDetached()))
            {
                await p.DisposeAsync();
            }
        }

        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        TryDelete(SocketPath);

        var podResources = _podResourcesApp;
        _podResourcesApp = null;
        if (podResources is not null)
        {
            await podResources.StopAsync();
            await podResources.DisposeAsync();
            TryDelete(PodResourcesSocketPath!);
        }

        _podResourcesLimiter?.Dispose();
        _podResourcesLimiter = null;
        return plugins;
    }

    private PluginConnection[] TakeDetached()
    {
        lock (_lock)
        {
            var detached = _detached.ToArray();
            _detached.Clear();
            return detached;
        }
    }

    /// <summary>A kubelet restart: stop, then start again (which wipes every socket in the directory).</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    /// <summary>
    /// A kubelet restart that leaves the old ListAndWatch streams open on the emulator's side, so a test can see
    /// whether the plugin ends them when it registers again. Returns the old connections (closed at the next
    /// <see cref="StopAsync()"/> or dispose).
    /// </summary>
    public async Task<IReadOnlyList<PluginConnection>> RestartKeepingStreamsAsync()
    {
        var old = await StopAsync(closeStreams: false);
        await StartAsync();
        return old;
    }

    /// <summary>Waits for a registration of <paramref name="resourceName"/> whose generation is at least <paramref name="minGeneration"/>.</summary>
    public async Task<PluginConnection> WaitForRegistrationAsync(string resourceName, TimeSpan timeout, int minGeneration = 1)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Next;
                if (_plugins.TryGetValue(resourceName, out var p) && p.Generation >= minGeneration)
                {
                    return p;
                }
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{resourceName} did not register (generation >= {minGeneration}) within {timeout.TotalSeconds:0.#} s;"
                    + $" registered: [{string.Join(", ", Plugins.Keys)}]; refused: [{string.Join("; ", Rejections)}]");
            }
        }
    }

    /// <summary>Waits until no plugin of that name is connected (its registration was dropped).</summary>
    public async Task WaitForGoneAsync(string resourceName, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Next;
                if (!_plugins.TryGetValue(resourceName, out var p) || p.StreamEnded)
                {
                    return;
                }
            }

            await Task.WhenAny(changed, Task.Delay(50, cts.Token));
            cts.Token.ThrowIfCancellationRequested();
        }
    }

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


    private void WipeSockets()
    {
        foreach (var path in System.IO.Directory.EnumerateFileSystemEntries(Directory))
        {
            if (Path.GetFileName(path) == CheckpointName)
            {
                continue;
            }

            var info = new FileInfo(path);
            if (!info.Attributes.HasFlag(FileAttributes.Directory) && IsSocket(path))
            {
                TryDelete(path);
            }
        }
    }

    private static bool IsSocket(string path)
    {
        // .NET exposes no file type for sockets: a socket is neither a directory nor a link, and open(2) refuses it.
        var info = new FileInfo(path);
        if (!info.Exists || info.LinkTarget is not null)
        {
            return false;
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Stops the emulator (see <see cref="StopAsync()"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync();

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
