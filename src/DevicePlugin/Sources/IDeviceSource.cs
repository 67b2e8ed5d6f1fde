using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>
/// A producer of inventory snapshots for every configured resource of one <see cref="SourceKind"/>.
/// Sources scan and monitor on their own background threads and publish to an <see cref="IInventorySink"/>;
/// they never talk to gRPC servers.
/// </summary>
public interface IDeviceSource : IAsyncDisposable
{
    SourceKind Kind { get; }

    /// <summary>
    /// Starts or reconfigures the source with its resources (possibly none) and publishes the first snapshots
    /// before returning. Called at start-up and on every valid configuration change.
    /// Throws <see cref="SourceInitException"/> when the source cannot start at all (no NVML, unreadable sysfs);
    /// the caller decides, per <c>--fail-on-init-error</c>, whether that ends the process.
    /// </summary>
    Task ApplyAsync(ImmutableArray<ResourceConfig> resources, PluginConfig config, CancellationToken cancellationToken);
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
