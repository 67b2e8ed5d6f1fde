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

    public SourceInitException(string message, Exception inner) : base(message, inner) { }

    public SourceInitException() { }
}
