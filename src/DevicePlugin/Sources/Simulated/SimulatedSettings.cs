using System.Collections.Immutable;
using DevicePlugin.Configuration;

namespace DevicePlugin.Sources.Simulated;

/// <summary>A <c>simulated</c> resource's own settings.</summary>
public sealed record SimulatedSettings : ISourceSettings
{
    /// <summary>The devices (<c>devices</c>), each ID once.</summary>
    public ImmutableArray<SimulatedDeviceConfig> Devices { get; init; } = [];

    public bool Equals(SimulatedSettings? other) => other is not null && Devices.SequenceEqual(other.Devices);

    public override int GetHashCode() => Devices.Length;
}
