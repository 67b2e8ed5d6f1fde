using System.Collections.Immutable;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>What one scan read about one PCI function. Immutable.</summary>
internal sealed record PciFunctionInfo
{
    /// <summary>The sysfs name, <c>0000:3b:00.0</c>.</summary>
    public required string Address { get; init; }

    /// <summary>The function's real directory under <c>&lt;sysfs-root&gt;/devices</c>.</summary>
    public required string Directory { get; init; }

    /// <summary>Directory names from <c>pciDDDD:BB</c> down to the function's parent bridge.</summary>
    public required ImmutableArray<string> PciePath { get; init; }

    public required ushort Vendor { get; init; }

    public required ushort Device { get; init; }

    /// <summary>The 24-bit class code (base class, subclass, prog-if).</summary>
    public required uint Class { get; init; }

    /// <summary>False when only the identity (address, ids, class, driver) was read.</summary>
    public bool HasDetails { get; init; } = true;

    public ushort? SubsystemVendor { get; init; }

    public ushort? SubsystemDevice { get; init; }

    /// <summary>The bound driver's name; null when unbound.</summary>
    public string? Driver { get; init; }

    public int? NumaNode { get; init; }

    public string? IommuGroup { get; init; }

    public string? LinkSpeed { get; init; }

    public string? LinkWidth { get; init; }

    /// <summary><c>TOTAL_ERR_FATAL</c> from <c>aer_dev_fatal</c>; null when the device has no AER counters.</summary>
    public long? AerFatalCount { get; init; }

    /// <summary>Host paths (<c>/dev/…</c>) of the character devices below the function's directory, sorted.</summary>
    public ImmutableArray<string> CharDeviceNodes { get; init; } = [];
}
