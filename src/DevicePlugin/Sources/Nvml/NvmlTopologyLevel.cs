using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlGpuTopologyLevel_t: the closest common ancestor of two GPUs.</summary>
internal enum NvmlTopologyLevel
{
    Internal = 0,
    Single = 10,
    Multiple = 20,
    HostBridge = 30,
    Node = 40,
    System = 50,
}

internal static class NvmlTopologyLevels
{
    /// <summary>Maps an NVML level to the plugin's interconnect level; an unknown value counts as across sockets.</summary>
    public static InterconnectLevel ToInterconnect(NvmlTopologyLevel level) => level switch
    {
        NvmlTopologyLevel.Internal or NvmlTopologyLevel.Single => InterconnectLevel.SingleSwitch,
        NvmlTopologyLevel.Multiple => InterconnectLevel.MultipleSwitches,
        NvmlTopologyLevel.HostBridge => InterconnectLevel.SameRootComplex,
        NvmlTopologyLevel.Node => InterconnectLevel.SameNumaNode,
        _ => InterconnectLevel.CrossSocket,
    };
}
