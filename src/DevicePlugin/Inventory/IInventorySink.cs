using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Sources;

namespace DevicePlugin.Inventory;

/// <summary>
/// Where sources hand their devices. A source publishes the complete set of resources it serves each time
/// (an empty set withdraws them all); the manager joins each with its resource's policy and merges the sources.
/// Thread-safe; never blocks on gRPC.
/// </summary>
public interface IInventorySink
{
    void Publish(SourceKind source, ImmutableArray<PublishedResource> resources);

    /// <summary>
    /// A fault the source detected (counted in the metrics; the cause of the health change it brings). Call it
    /// before publishing the snapshot that shows the change. Never blocks.
    /// </summary>
    void RecordFault(SourceKind source, DeviceFault fault)
    {
    }

    /// <summary>The source runs: it reads its hardware (after a start or a retry that worked). Never blocks.</summary>
    void SourceRunning(SourceKind source)
    {
    }

    /// <summary>
    /// The source could not start, or a retry failed again, or it lost sight of its hardware: every such failure is
    /// reported once, as it happens. Never blocks.
    /// </summary>
    void SourceFailed(SourceKind source, SourceInitException error)
    {
    }
}
