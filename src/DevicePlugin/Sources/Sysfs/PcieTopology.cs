using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>
/// PCIe placement of devices from sysfs: NUMA node and the path of bridges from the root complex, and the
/// interconnect level between two devices derived from those paths. Shared by the <c>pci</c> and <c>nvml</c> sources.
/// </summary>
/// <remarks>
/// A path lists the sysfs directory names from the host bridge (<c>pci0000:3a</c>) through the root port and any
/// switch ports down to the device's parent. Positions give the roles: [0] host bridge, [1] root port, then pairs
/// of switch upstream [2, 4, …] and downstream [3, 5, …] ports. Levels, strongest first:
/// <list type="bullet">
/// <item>SingleSwitch: the same parent bridge below the host bridge (functions of one board), or parents that are
/// downstream ports of one switch (both paths end one step below a shared upstream port): one switch between them.</item>
/// <item>MultipleSwitches: a shared bridge below the host bridge, with more than one switch between them.</item>
/// <item>SameRootComplex: only the host bridge (<c>pciDDDD:BB</c>) is shared.</item>
/// <item>SameNumaNode / CrossSocket: nothing on the PCIe path is shared; decided by the NUMA nodes.</item>
/// </list>
/// </remarks>
public static class PcieTopology
{
    /// <summary>The interconnect level between two devices from their PCIe paths and NUMA nodes.</summary>
    public static InterconnectLevel Level(IReadOnlyList<string> pathA, int? numaA, IReadOnlyList<string> pathB, int? numaB)
    {
        var shared = 0;
        while (shared < pathA.Count && shared < pathB.Count && pathA[shared] == pathB[shared])
        {
            shared++;
        }

        if (shared == 0)
        {
            return numaA is { } a && numaB is { } b && a == b ? InterconnectLevel.SameNumaNode : InterconnectLevel.CrossSocket;
        }

        if (pathA.Count == shared && pathB.Count == shared)
        {
            // Same parent: below the host bridge itself only the root complex is shared.
            return shared == 1 ? InterconnectLevel.SameRootComplex : InterconnectLevel.SingleSwitch;
        }

        if (shared == 1)
        {
            return InterconnectLevel.SameRootComplex;
        }

        var sharedIsUpstreamPort = shared >= 3 && shared % 2 == 1;
        return sharedIsUpstreamPort && pathA.Count == shared + 1 && pathB.Count == shared + 1
            ? InterconnectLevel.SingleSwitch
            : InterconnectLevel.MultipleSwitches;
    }

    /// <summary>The matrix for a snapshot's devices, from their <see cref="PhysicalDevice.PciePath"/> and NUMA nodes.</summary>
    public static TopologyMatrix BuildMatrix(IReadOnlyList<PhysicalDevice> devices)
    {
        var n = devices.Count;
        var levels = new InterconnectLevel[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = i + 1; j < n; j++)
            {
                var level = Level(devices[i].PciePath, devices[i].NumaNode, devices[j].PciePath, devices[j].NumaNode);
                levels[(i * n) + j] = level;
                levels[(j * n) + i] = level;
            }
        }

        return new TopologyMatrix(n, levels, new byte[n * n]);
    }

    /// <summary>
    /// Reads a PCI function's NUMA node (null when unknown) and PCIe path from
    /// <c>&lt;sysfsRoot&gt;/bus/pci/devices/&lt;address&gt;</c>. The address may be in NVML's form
    /// (<c>00000000:3B:00.0</c>). False when the address is malformed or the function is not in sysfs.
    /// </summary>
    public static bool TryReadPlacement(string sysfsRoot, string pciAddress, out int? numaNode, out ImmutableArray<string> pciePath,
        Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        numaNode = null;
        pciePath = [];
        if (PciAddressName.Normalize(pciAddress) is not { } address)
        {
            return false;
        }

        var scanner = new PciScanner(sysfsRoot, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        if (!scanner.TryResolve(address, out var directory, out pciePath))
        {
            return false;
        }

        numaNode = scanner.ReadNumaNode(address, directory);
        return true;
    }
}
