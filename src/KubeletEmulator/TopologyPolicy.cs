namespace DevicePlugin.KubeletEmulator;

/// <summary>The kubelet's Topology Manager policies, as far as device NUMA hints go.</summary>
public enum TopologyPolicy
{
    /// <summary>No hints: the device manager picks from every available device (the kubelet's default).</summary>
    None,

    /// <summary>The narrowest NUMA node set that can hold the request is preferred; admission never fails for it.</summary>
    BestEffort,

    /// <summary>As <see cref="BestEffort"/>, but a container whose narrowest possible set is wider than on an empty node is refused.</summary>
    Restricted,

    /// <summary>Every container's devices must come from one NUMA node, else the pod is refused.</summary>
    SingleNumaNode,
}
