using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Configuration;

/// <summary>One entry of <c>resources:</c>.</summary>
public sealed record ResourceConfig
{
    /// <summary>Extended resource name, <c>domain/name</c>.</summary>
    public required string Name { get; init; }

    public required SourceKind Source { get; init; }

    public int Replicas { get; init; } = 1;

    public bool PreStart { get; init; }

    /// <summary><c>pci</c> only: selectors; a device belongs to the resource when any entry matches.</summary>
    public ImmutableArray<PciMatch> Match { get; init; } = [];

    /// <summary><c>simulated</c> only.</summary>
    public ImmutableArray<SimulatedDeviceConfig> Devices { get; init; } = [];

    /// <summary>Fixed device nodes every container of this resource gets (for example <c>/dev/kfd</c>).</summary>
    public ImmutableArray<string> ExtraDeviceNodes { get; init; } = [];

    public DeviceNaming Naming { get; init; } = DeviceNaming.Env;

    /// <summary>Refuse a container request for more than one replica of the same device.</summary>
    public bool DistinctDevices { get; init; }

    /// <summary><c>nvml</c> only: how GPUs in MIG mode are advertised.</summary>
    public MigStrategy MigStrategy { get; init; }

    /// <summary>Line of the entry in the config file (0 for built-in defaults), for messages.</summary>
    public int Line { get; init; }

    /// <summary>The entry's policy: how its devices are offered, whatever the source.</summary>
    public ResourcePolicy Policy => new()
    {
        Replicas = Replicas,
        PreStartRequired = PreStart,
        Naming = Naming,
        DistinctDevices = DistinctDevices,
        ExtraDeviceNodes = ExtraDeviceNodes,
    };
}

/// <summary>A <c>match:</c> selector of a <c>pci</c> resource.</summary>
public sealed record PciMatch
{
    public required ushort Vendor { get; init; }

    public ushort? Device { get; init; }

    /// <summary>Base class and subclass: the top 16 bits of the sysfs <c>class</c> value.</summary>
    public ushort? Class { get; init; }

    public string? Driver { get; init; }

    public bool Matches(ushort vendor, ushort device, uint classCode, string? driver) =>
        vendor == Vendor
        && (Device is not { } d || d == device)
        && (Class is not { } c || c == (ushort)(classCode >> 8))
        && (Driver is not { } drv || drv == driver);
}

/// <summary>A device of a <c>simulated</c> resource.</summary>
public sealed record SimulatedDeviceConfig
{
    public required string Id { get; init; }

    public int? Numa { get; init; }

    public DeviceHealth Health { get; init; } = DeviceHealth.Healthy;
}
