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
/// serves PodResources v1 from those pods on that socket. This file holds its state, start, stop, restart and waits;
/// registration, PodResources, the socket wipe and pods have a file each.
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

    /// <summary>Stops the emulator (see <see cref="StopAsync()"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync();
}
