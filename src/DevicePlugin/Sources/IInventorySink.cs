using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>
/// Where sources hand their snapshots. A source publishes the complete set of resources it serves each time
/// (an empty set withdraws them all); the sink merges sources and forwards the result to the resource manager.
/// Thread-safe; never blocks on gRPC.
/// </summary>
public interface IInventorySink
{
    void Publish(SourceKind source, ImmutableArray<ResourceSnapshot> snapshots);
}
