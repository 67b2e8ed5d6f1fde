using System.Collections.Immutable;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// Builds the pairwise interconnect of the discovered GPUs, once per GPU set (never per request): NVLinks counted
/// from each GPU's enabled links and their remote PCI addresses, the PCIe level from the closest common ancestor,
/// and the NUMA nodes where the driver cannot tell.
/// </summary>
internal static class NvmlTopologyBuilder
{
    public static TopologyMatrix Build(NvmlLibrary nvml, ImmutableArray<NvmlGpu> gpus, ILogger logger)
    {
        var n = gpus.Length;
        var levels = new InterconnectLevel[n * n];
        var nvLinks = new byte[n * n];
        if (nvml.HasNvLink)
        {
            CountNvLinks(nvml, gpus, nvLinks, logger);
        }

        for (var i = 0; i < n; i++)
        {
            for (var j = i + 1; j < n; j++)
            {
                // Without NVML's answer: the PCIe paths from sysfs where known, else the NUMA nodes.
                var level = Sysfs.PcieTopology.Level(gpus[i].PciePath, gpus[i].NumaNode, gpus[j].PciePath, gpus[j].NumaNode);
                if (nvml.HasTopologyCommonAncestor)
                {
                    var r = nvml.GetTopologyCommonAncestor(gpus[i].Handle, gpus[j].Handle, out var ancestor);
                    if (r == NvmlReturn.Success)
                    {
                        level = NvmlTopologyLevels.ToInterconnect(ancestor);
                    }
                    else
                    {
                        NvmlLog.TopologyUnreadable(logger, gpus[i].Uuid, gpus[j].Uuid, nvml.Describe(r));
                    }
                }

                levels[(i * n) + j] = levels[(j * n) + i] = level;
            }
        }

        return new TopologyMatrix(n, levels, nvLinks);
    }

    /// <summary>
    /// For each GPU, walks its links until the driver says there are no more (INVALID_ARGUMENT past the last link,
    /// NOT_SUPPORTED on GPUs without NVLink) and counts the enabled ones by what is at the other end. A direct pair's
    /// count is the larger of what its two ends report. Links to something that is not one of the GPUs are links to
    /// an NVSwitch: two GPUs on the same switch are connected through it by the smaller of their link counts to it,
    /// summed over the switches they share.
    /// </summary>
    private static void CountNvLinks(NvmlLibrary nvml, ImmutableArray<NvmlGpu> gpus, byte[] nvLinks, ILogger logger)
    {
        var n = gpus.Length;
        var byAddress = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            byAddress[gpus[i].PciAddress] = i;
        }

        var counts = new int[n * n];
        var switchLinks = new Dictionary<string, int>[n];
        for (var i = 0; i < n; i++)
        {
            switchLinks[i] = new Dictionary<string, int>(StringComparer.Ordinal);
            for (uint link = 0; link < NvmlLibrary.NvLinkMaxLinks; link++)
            {
                var r = nvml.GetNvLinkState(gpus[i].Handle, link, out var enabled);
                if (r != NvmlReturn.Success)
                {
                    if (r is not (NvmlReturn.InvalidArgument or NvmlReturn.NotSupported))
                    {
                        NvmlLog.NvLinkUnreadable(logger, gpus[i].Uuid, link, nvml.Describe(r));
                    }

                    break;
                }

                if (!enabled)
                {
                    continue;
                }

                r = nvml.GetNvLinkRemotePciInfo(gpus[i].Handle, link, out var remote);
                if (r != NvmlReturn.Success)
                {
                    NvmlLog.NvLinkUnreadable(logger, gpus[i].Uuid, link, nvml.Describe(r));
                    continue;
                }

                if (Sysfs.PciAddressName.Normalize(remote.BusIdText) is not { } address)
                {
                    NvmlLog.NvLinkUnreadable(logger, gpus[i].Uuid, link, $"remote bus ID '{remote.BusIdText}' is not domain:bus:device.function");
                }
                else if (byAddress.TryGetValue(address, out var j))
                {
                    if (j != i)
                    {
                        counts[(i * n) + j]++;
                    }
                }
                else
                {
                    switchLinks[i][address] = switchLinks[i].GetValueOrDefault(address) + 1;
                }
            }
        }

        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                if (i == j)
                {
                    continue;
                }

                var links = Math.Max(counts[(i * n) + j], counts[(j * n) + i]);
                foreach (var (address, count) in switchLinks[i])
                {
                    if (switchLinks[j].TryGetValue(address, out var other))
                    {
                        links += Math.Min(count, other);
                    }
                }

                nvLinks[(i * n) + j] = (byte)Math.Min(links, byte.MaxValue);
            }
        }
    }
}
