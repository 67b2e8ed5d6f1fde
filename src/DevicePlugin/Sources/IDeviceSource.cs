using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>
/// A producer of the devices of every configured resource of one <see cref="SourceKind"/> (<see cref="PublishedResource"/>).
/// Sources scan and monitor on their own background threads and publish to an <see cref="IInventorySink"/>;
/// they never talk to gRPC servers.
/// </summary>
public interface IDeviceSource : IAsyncDisposable
{
    SourceKind Kind { get; }

    /// <summary>
    /// Starts or reconfigures the source with its resources (possibly none) and publishes their devices before
    /// returning. Called at start-up and whenever the kind's <see cref="SourceAssignment"/> changes; never for a change
    /// of policy only (replicas, naming, PreStartContainer), which the manager applies without the source.
    /// Throws <see cref="SourceInitException"/> when the source cannot start at all (no NVML, unreadable sysfs);
    /// the caller decides, per <c>--fail-on-init-error</c>, whether that ends the process.
    /// </summary>
    Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken);
}

/// <summary>A configured source could not start; the message says why in words an operator can act on.</summary>
public sealed class SourceInitException : Exception
{
    public SourceInitException(string message) : base(message) { }

    public SourceInitException(string message, bool noHardware) : base(message) => NoHardware = noHardware;

    public SourceInitException(string message, Exception inner, bool noHardware) : base(message, inner) => NoHardware = noHardware;

    /// <summary>
    /// True when the source found nothing to serve rather than an error: no NVML library on the node, or NVML
    /// without a GPU. With the built-in defaults such a source is not a readiness problem; an error is.
    /// </summary>
    public bool NoHardware { get; }

    public SourceInitException(string message, Exception inner) : base(message, inner) { }

    public SourceInitException() { }
}
