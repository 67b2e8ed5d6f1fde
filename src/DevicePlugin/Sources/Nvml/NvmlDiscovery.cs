using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// What discovery found: the GPUs to advertise, sorted by PCI address; the count NVML gave; every UUID it could read
/// (advertised, in MIG mode, or with another property unreadable); the UUIDs in MIG mode; and how many indices did not
/// even give a UUID (a GPU that is lost answers GPU_IS_LOST there). With <see cref="Unidentified"/> zero the
/// enumeration is complete: a UUID missing from <see cref="EnumeratedUuids"/> is not on the node.
/// </summary>
internal sealed record NvmlDiscoveryResult(
    ImmutableArray<NvmlGpu> Gpus,
    uint DeviceCount,
    ImmutableHashSet<string> EnumeratedUuids,
    ImmutableHashSet<string> MigUuids,
    int Unidentified)
{
    public int MigGpusSkipped => MigUuids.Count;
}

/// <summary>
/// Enumerates the GPUs NVML sees. A GPU whose identity (UUID, minor number, PCI address) cannot be read is logged and
/// left out; the others are still advertised. A GPU in MIG mode is logged and counted, not advertised.
/// </summary>
internal static class NvmlDiscovery
{
    public static NvmlDiscoveryResult Discover(NvmlLibrary nvml, string sysfsRoot, ILogger logger)
    {
        var r = nvml.GetDeviceCount(out var count);
        if (r != NvmlReturn.Success)
        {
            throw new SourceInitException($"NVML could not count the GPUs: nvmlDeviceGetCount_v2 answered {nvml.Describe(r)}");
        }

        var gpus = ImmutableArray.CreateBuilder<NvmlGpu>((int)count);
        var enumerated = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        var mig = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        var unidentified = 0;
        for (uint index = 0; index < count; index++)
        {
            var outcome = DiscoverOne(nvml, index, sysfsRoot, logger, out var uuid, out var gpu);
            if (uuid is not null)
            {
                enumerated.Add(uuid);
            }

            switch (outcome)
            {
                case Outcome.Found:
                    gpus.Add(gpu!);
                    Log.GpuDiscovered(logger, gpu!.Uuid, gpu.Name, gpu.PciAddress, gpu.Minor,
                        gpu.MemoryBytes is { } m ? (m / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) : "unknown",
                        gpu.NumaNode?.ToString(CultureInfo.InvariantCulture) ?? "unknown", gpu.ComputeCapability ?? "unknown");
                    break;
                case Outcome.MigEnabled:
                    mig.Add(uuid!);
                    break;
                case Outcome.Unidentified:
                    unidentified++;
                    break;
                case Outcome.Unreadable:
                    break;
            }
        }

        gpus.Sort(static (a, b) => string.CompareOrdinal(a.PciAddress, b.PciAddress));
        return new NvmlDiscoveryResult(gpus.ToImmutable(), count, enumerated.ToImmutable(), mig.ToImmutable(), unidentified);
    }

    /// <summary>
    /// The cheap re-check of the GPU set: one handle and one UUID per index (2 calls per GPU). Returns the UUIDs read
    /// and, in <paramref name="unidentified"/>, how many indices gave none.
    /// </summary>
    public static ImmutableHashSet<string> ReadUuids(NvmlLibrary nvml, uint count, out int unidentified)
    {
        var uuids = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        unidentified = 0;
        for (uint index = 0; index < count; index++)
        {
            if (nvml.GetHandleByIndex(index, out var handle) == NvmlReturn.Success
                && nvml.GetUuid(handle, out var uuid) == NvmlReturn.Success && uuid.Length > 0)
            {
                uuids.Add(uuid);
            }
            else
            {
                unidentified++;
            }
        }

        return uuids.ToImmutable();
    }

    private enum Outcome
    {
        Found,
        MigEnabled,

        /// <summary>No UUID: which GPU sits at this index is unknown.</summary>
        Unidentified,

        /// <summary>The UUID was read, another identity property was not.</summary>
        Unreadable,
    }

    private static Outcome DiscoverOne(NvmlLibrary nvml, uint index, string sysfsRoot, ILogger logger, out string? readUuid, out NvmlGpu? gpu)
    {
        gpu = null;
        readUuid = null;
        var r = nvml.GetHandleByIndex(index, out var handle);
        if (r != NvmlReturn.Success)
        {
            Log.GpuUnreadable(logger, index, "nvmlDeviceGetHandleByIndex_v2", nvml.Describe(r));
            return Outcome.Unidentified;
        }

        r = nvml.GetUuid(handle, out var uuid);
        if (r != NvmlReturn.Success || uuid.Length == 0)
        {
            Log.GpuUnreadable(logger, index, "nvmlDeviceGetUUID", nvml.Describe(r));
            return Outcome.Unidentified;
        }

        readUuid = uuid;

        r = nvml.GetPciInfo(handle, out var pci);
        if (r != NvmlReturn.Success)
        {
            Log.GpuUnreadable(logger, index, "nvmlDeviceGetPciInfo_v3", nvml.Describe(r));
            return Outcome.Unreadable;
        }

        var busId = pci.BusIdText;
        if (Pci.PciAddressName.Normalize(busId) is not { } pciAddress)
        {
            Log.GpuUnreadable(logger, index, "nvmlDeviceGetPciInfo_v3", $"bus ID '{busId}' is not domain:bus:device.function");
            return Outcome.Unreadable;
        }

        if (nvml.HasMigMode && nvml.GetMigMode(handle, out var current, out _) == NvmlReturn.Success && current == 1)
        {
            Log.MigGpuSkipped(logger, uuid, pciAddress);
            return Outcome.MigEnabled;
        }

        r = nvml.GetMinorNumber(handle, out var minor);
        if (r != NvmlReturn.Success)
        {
            Log.GpuUnreadable(logger, index, "nvmlDeviceGetMinorNumber", nvml.Describe(r));
            return Outcome.Unreadable;
        }

        if (nvml.GetName(handle, out var name) != NvmlReturn.Success || name.Length == 0)
        {
            name = "unknown";
        }

        ulong? memory = nvml.GetMemoryInfo(handle, out var info) == NvmlReturn.Success ? info.Total : null;
        string? computeCapability = nvml.HasCudaComputeCapability
            && nvml.GetCudaComputeCapability(handle, out var major, out var minorCc) == NvmlReturn.Success
            ? string.Create(CultureInfo.InvariantCulture, $"{major}.{minorCc}")
            : null;

        // One sysfs read for the PCIe placement (shared with the pci source): path, and NUMA node where NVML has none.
        var placed = Pci.PcieTopology.TryReadPlacement(sysfsRoot, pciAddress, out var sysfsNuma, out var path, logger);
        gpu = new NvmlGpu
        {
            Handle = handle,
            Uuid = uuid,
            Name = name,
            MemoryBytes = memory,
            Minor = minor,
            ComputeCapability = computeCapability,
            PciAddress = pciAddress,
            NumaNode = NumaNodeOf(nvml, handle, placed, sysfsNuma, pciAddress, sysfsRoot, logger),
            PciePath = placed ? path : [],
        };
        return Outcome.Found;
    }

    /// <summary>
    /// NVML's answer where the driver has one, else the sysfs placement's, else <c>numa_node</c> read directly (a
    /// GPU sysfs lists without its PCIe tree); -1 or unreadable means unknown.
    /// </summary>
    private static int? NumaNodeOf(NvmlLibrary nvml, nint handle, bool placed, int? placedNuma, string pciAddress, string sysfsRoot, ILogger logger)
    {
        if (nvml.HasNumaNodeId && nvml.GetNumaNodeId(handle, out var node) == NvmlReturn.Success && node <= int.MaxValue)
        {
            return (int)node;
        }

        if (placed)
        {
            return placedNuma;
        }

        var path = Path.Combine(sysfsRoot, "bus", "pci", "devices", pciAddress, "numa_node");
        try
        {
            var text = File.ReadAllText(path).Trim();
            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return value >= 0 ? value : null;
            }

            Log.NumaNodeUnreadable(logger, path, $"'{text}' is not a number");
        }
        catch (IOException e)
        {
            Log.NumaNodeUnreadable(logger, path, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            Log.NumaNodeUnreadable(logger, path, e.Message);
        }

        return null;
    }
}
