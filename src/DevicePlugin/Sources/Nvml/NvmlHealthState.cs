using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The GPU set (with its topology), each GPU with its current health in set order, each MIG device with its current
/// health in <see cref="NvmlGpuSet.MigDevices"/> order, and the shared device nodes present now.
/// </summary>
internal sealed record NvmlHealthState(
    NvmlGpuSet Set, ImmutableArray<PhysicalDevice> Devices, ImmutableArray<PhysicalDevice> MigDevices, ImmutableArray<string> SharedDeviceNodes)
{
    public TopologyMatrix Topology => Set.Topology;
}
