using DevicePlugin.Tests.TestSupport;
using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>Look-ups on published snapshots for assertions.</summary>
public static class PciSnapshotQueries
{
    public static ResourceSnapshot Resource(this ImmutableArray<ResourceSnapshot> snapshots, string name) =>
        snapshots.SingleOrDefault(s => s.ResourceName == name)
        ?? throw new Xunit.Sdk.XunitException($"resource {name} not published; got {RecordingInventorySink.Describe(snapshots)}");

    public static PhysicalDevice? FindDevice(this ImmutableArray<ResourceSnapshot> snapshots, string resource, string id) =>
        snapshots.SingleOrDefault(s => s.ResourceName == resource)?.Devices.SingleOrDefault(d => d.Id == id);

    public static bool HasHealth(this ImmutableArray<ResourceSnapshot> snapshots, string resource, string id, DeviceHealth health) =>
        snapshots.FindDevice(resource, id)?.Health == health;
}
