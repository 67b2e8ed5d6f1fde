using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Simulated;

/// <summary>
/// Devices described entirely by the configuration file: for demos, for testing kubelets, and for nodes where an
/// operator wants to advertise something no probe can see. Health changes come from editing the file.
/// </summary>
public sealed class SimulatedSource(IInventorySink sink) : IDeviceSource
{
    public SourceKind Kind => SourceKind.Simulated;

    public Task ApplyAsync(ImmutableArray<ResourceConfig> resources, PluginConfig config, CancellationToken cancellationToken)
    {
        sink.Publish(SourceKind.Simulated, [.. resources.Select(ToSnapshot)]);
        if (!resources.IsEmpty)
        {
            sink.SourceRunning(SourceKind.Simulated);
        }

        return Task.CompletedTask;
    }

    public static ResourceSnapshot ToSnapshot(ResourceConfig resource)
    {
        var devices = resource.Devices
            .Select(d => new PhysicalDevice
            {
                Id = d.Id,
                Health = d.Health,
                UnhealthyReason = d.Health == DeviceHealth.Healthy ? null : "marked Unhealthy in the configuration",
                NumaNode = d.Numa,
            })
            .ToImmutableArray();
        return new ResourceSnapshot(
            resource.Name,
            SourceKind.Simulated,
            devices,
            replicas: resource.Replicas,
            preStartRequired: resource.PreStart,
            sharedDeviceNodes: resource.ExtraDeviceNodes,
            naming: resource.Naming,
            distinctDevices: resource.DistinctDevices);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
