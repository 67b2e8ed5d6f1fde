namespace DevicePlugin.Inventory;

/// <summary>
/// How closely two physical devices are connected, weakest first. NVLink is counted separately
/// (<see cref="TopologyMatrix.NvLinks"/>) and outranks every PCIe level.
/// </summary>
public enum InterconnectLevel : byte
{
    /// <summary>Nothing known, or on different sockets (NVML: SYSTEM).</summary>
    CrossSocket = 0,
    /// <summary>Same NUMA node / socket, different host bridges (NVML: NODE).</summary>
    SameNumaNode = 1,
    /// <summary>Below the same root complex / host bridge (NVML: HOSTBRIDGE).</summary>
    SameRootComplex = 2,
    /// <summary>Share a PCIe switch, through several switch levels (NVML: MULTIPLE).</summary>
    MultipleSwitches = 3,
    /// <summary>Behind one PCIe switch (NVML: SINGLE) or on the same board (NVML: INTERNAL).</summary>
    SingleSwitch = 4,

    /// <summary>
    /// Two partitions of one physical device (MIG devices of one GPU): closer than any link between devices,
    /// NVLink included.
    /// </summary>
    SameDevice = 5,
}
