using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Health;

/// <summary>
/// A fault a source detected on one physical device: counted in <c>device_plugin_device_faults_total</c> and used as
/// the cause of the health transition it brings.
/// </summary>
/// <param name="Device">The physical device ID; empty when the fault names no device the source knows.</param>
/// <param name="Kind">One of <see cref="DeviceFaultKind"/>, or (when <paramref name="Counted"/> is false) a short cause word.</param>
/// <param name="Code">The XID number for <see cref="DeviceFaultKind.Xid"/>, else empty.</param>
/// <param name="Resource">The resource the device belongs to, when the source knows it; null: every resource listing the device.</param>
/// <param name="Counted">False for a cause that is not a fault of its own (an NVML error that names no GPU): it only explains the transition.</param>
public readonly record struct DeviceFault(string Device, string Kind, string Code = "", string? Resource = null, bool Counted = true);

/// <summary>The <c>kind</c> label values of <c>device_plugin_device_faults_total</c>, one scheme for every source.</summary>
public static class DeviceFaultKind
{
    public const string Xid = "xid";
    public const string DoubleBitEcc = "dbe";
    public const string Lost = "lost";
    public const string AerFatal = "aer_fatal";
    public const string DriverUnbound = "driver_unbound";
    public const string Unplugged = "unplugged";
    public const string NodeMissing = "node_missing";

    /// <summary>The kinds a source can report that carry no code: their counters are exported at 0 for every device.</summary>
    public static ImmutableArray<string> UncodedKindsOf(SourceKind source) => source.UncodedFaultKinds;
}
