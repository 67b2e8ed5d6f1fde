using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Simulated;

/// <summary>
/// Devices described entirely by the configuration file: for demos, for testing kubelets, and for nodes where an
/// operator wants to advertise something no probe can see. Health changes come from editing the file. Each device
/// gives its container <c>SIMULATED_DEVICES</c> = its ID.
/// </summary>
public sealed class SimulatedSource(IInventorySink sink) : IDeviceSource
{
    /// <summary>The environment variable a container gets, the IDs of its simulated devices.</summary>
    public const string EnvironmentVariable = "SIMULATED_DEVICES";

    public SourceKind Kind => SimulatedSchema.Kind;

    /// <summary>The source as a daemon creates it (its registration in <c>DeviceSources</c>).</summary>
    public static SimulatedSource Create(SourceContext context) => new(context.Sink);

    public Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken)
    {
        sink.Publish(SimulatedSchema.Kind, [.. assignment.Resources.Select(ToPublished)]);
        if (!assignment.Resources.IsEmpty)
        {
            sink.SourceRunning(SimulatedSchema.Kind);
        }

        return Task.CompletedTask;
    }

    public static PublishedResource ToPublished(ResourceRequest resource) => new(
        resource.Name,
        [
            .. resource.SettingsAs<SimulatedSettings>().Devices.Select(d => new PhysicalDevice
            {
                Id = d.Id,
                Health = d.Health,
                UnhealthyReason = d.Health == DeviceHealth.Healthy ? null : "marked Unhealthy in the configuration",
                NumaNode = d.Numa,
                Environment = [new(EnvironmentVariable, d.Id)],
            }),
        ]);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
