// Over 300 lines on purpose: whole GPUs and their MIG devices are discovered in one walk over NVML handles, and the
// MIG strategies (none, single, mixed) decide on the result of that walk.
using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Cli;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// What discovery found: the GPUs, sorted by PCI address (those in MIG mode with their MIG devices); the count NVML
/// gave; every UUID it could read (found, or with another property unreadable); and how many indices did not even
/// give a UUID (a GPU that is lost answers GPU_IS_LOST there). With <see cref="Unidentified"/> zero the enumeration is
/// complete: a UUID missing from <see cref="EnumeratedUuids"/> is not on the node.
/// </summary>
internal sealed record NvmlDiscoveryResult(
    ImmutableArray<NvmlGpu> Gpus,
    uint DeviceCount,
    ImmutableHashSet<string> EnumeratedUuids,
    int Unidentified)
{
    /// <summary>GPUs in MIG mode, which are never advertised whole.</summary>
    public int MigGpusSkipped => Gpus.Count(g => g.MigEnabled);
}

/// <summary>
/// Enumerates the GPUs NVML sees. A GPU whose identity (UUID, minor number, PCI address) cannot be read is logged and
/// left out; the others are still found. For a GPU in MIG mode its MIG devices are enumerated too: the slots are
/// sparse (NOT_FOUND is an empty slot), and a MIG device whose identity, attributes or capability minors cannot be
/// read is logged and left out.
/// </summary>
internal static class NvmlDiscovery
{
    /// <summary>More MIG slots than any GPU has (7 today): a driver answering more is not believed past this.</summary>
    private const uint MaxMigSlots = 64;

    public static NvmlDiscoveryResult Discover(NvmlLibrary nvml, string sysfsRoot, string procRoot, ILogger logger)
    {
        var r = nvml.GetDeviceCount(out var count);
        if (r != NvmlReturn.Success)
        {
            throw new SourceInitException($"NVML could not count the GPUs: nvmlDeviceGetCount_v2 answered {nvml.Describe(r)}");
        }

        var gpus = ImmutableArray.CreateBuilder<NvmlGpu>((int)count);
        var enumerated = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        var unidentified = 0;
        NvmlMigCapabilities? capabilities = null;
        for (uint index = 0; index < count; index++)
        {
            var outcome = DiscoverOne(nvml, index, sysfsRoot, logger, out var uuid, out var gpu);
            if (outcome == Outcome.Found && gpu!.MigEnabled)
            {
                capabilities ??= NvmlMigCapabilities.Read(procRoot, logger);
                gpu = gpu with { MigDevices = DiscoverMigDevices(nvml, gpu, capabilities, logger) };
            }

            if (uuid is not null)
            {
                enumerated.Add(uuid);
            }

            switch (outcome)
            {
                case Outcome.Found:
                    gpus.Add(gpu!);
                    NvmlLog.GpuDiscovered(logger, gpu!.Uuid, gpu.Name, gpu.PciAddress, gpu.Minor,
                        gpu.MemoryBytes is { } m ? (m / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) : "unknown",
                        gpu.NumaNode?.ToString(CultureInfo.InvariantCulture) ?? "unknown", gpu.ComputeCapability ?? "unknown");
                    break;
                case Outcome.Unidentified:
                    unidentified++;
                    break;
                case Outcome.Unreadable:
                    break;
            }
        }

        gpus.Sort(static (a, b) => string.CompareOrdinal(a.PciAddress, b.PciAddress));
        return new NvmlDiscoveryResult(gpus.ToImmutable(), count, enumerated.ToImmutable(), unidentified);
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
            NvmlLog.GpuUnreadable(logger, index, "nvmlDeviceGetHandleByIndex_v2", nvml.Describe(r));
            return Outcome.Unidentified;
        }

        r = nvml.GetUuid(handle, out var uuid);
        if (r != NvmlReturn.Success || uuid.Length == 0)
        {
            NvmlLog.GpuUnreadable(logger, index, "nvmlDeviceGetUUID", nvml.Describe(r));
            return Outcome.Unidentified;
        }

        readUuid = uuid;

        r = nvml.GetPciInfo(handle, out var pci);
        if (r != NvmlReturn.Success)
        {
            NvmlLog.GpuUnreadable(logger, index, "nvmlDeviceGetPciInfo_v3", nvml.Describe(r));
            return Outcome.Unreadable;
        }

        var busId = pci.BusIdText;
        if (Sysfs.PciAddressName.Normalize(busId) is not { } pciAddress)
        {
            NvmlLog.GpuUnreadable(logger, index, "nvmlDeviceGetPciInfo_v3", $"bus ID '{busId}' is not domain:bus:device.function");
            return Outcome.Unreadable;
        }

        uint current = 0;
        var migCapable = nvml.HasMigMode && nvml.GetMigMode(handle, out current, out _) == NvmlReturn.Success;
        var migEnabled = migCapable && current == 1;

        r = nvml.GetMinorNumber(handle, out var minor);
        if (r != NvmlReturn.Success)
        {
            NvmlLog.GpuUnreadable(logger, index, "nvmlDeviceGetMinorNumber", nvml.Describe(r));
            return Outcome.Unreadable;
        }

        if (nvml.GetName(handle, out var name) != NvmlReturn.Success || name.Length == 0)
        {
            name = "unknown";
        }

        r = nvml.GetMemoryInfo(handle, out var info);
        ulong? memory = r == NvmlReturn.Success ? info.Total : null;
        if (migEnabled && r == NvmlReturn.NoPermission)
        {
            NvmlLog.MigParentMemoryRefused(logger, uuid);
        }

        string? computeCapability = nvml.HasCudaComputeCapability
            && nvml.GetCudaComputeCapability(handle, out var major, out var minorCc) == NvmlReturn.Success
            ? string.Create(CultureInfo.InvariantCulture, $"{major}.{minorCc}")
            : null;

        // One sysfs read for the PCIe placement (shared with the pci source): path, and NUMA node where NVML has none.
        var placed = Sysfs.PcieTopology.TryReadPlacement(sysfsRoot, pciAddress, out var sysfsNuma, out var path, logger);
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
            MigCapable = migCapable,
            MigEnabled = migEnabled,
        };
        if (migEnabled)
        {
            NvmlLog.MigGpuFound(logger, uuid, pciAddress);
        }

        return Outcome.Found;
    }

    /// <summary>The MIG devices of a GPU in MIG mode, by slot; empty slots (NOT_FOUND) are skipped.</summary>
    private static ImmutableArray<NvmlMigDevice> DiscoverMigDevices(NvmlLibrary nvml, NvmlGpu gpu, NvmlMigCapabilities capabilities, ILogger logger)
    {
        if (!nvml.HasMig)
        {
            // Logged once when the library loaded: the GPU is in MIG mode and its devices cannot be listed.
            return [];
        }

        var r = nvml.GetMaxMigDeviceCount(gpu.Handle, out var slots);
        if (r != NvmlReturn.Success)
        {
            NvmlLog.MigDevicesUnreadable(logger, gpu.Uuid, "nvmlDeviceGetMaxMigDeviceCount", nvml.Describe(r));
            return [];
        }

        var devices = ImmutableArray.CreateBuilder<NvmlMigDevice>();
        for (uint slot = 0; slot < Math.Min(slots, MaxMigSlots); slot++)
        {
            r = nvml.GetMigDeviceHandleByIndex(gpu.Handle, slot, out var handle);
            if (r is NvmlReturn.NotFound or NvmlReturn.InvalidArgument)
            {
                continue;
            }

            if (r != NvmlReturn.Success)
            {
                NvmlLog.MigDeviceUnreadable(logger, gpu.Uuid, slot, "nvmlDeviceGetMigDeviceHandleByIndex", nvml.Describe(r));
                continue;
            }

            if (DiscoverMigDevice(nvml, gpu, slot, handle, capabilities, logger) is { } device)
            {
                devices.Add(device);
            }
        }

        if (devices.Count == 0)
        {
            NvmlLog.MigGpuEmpty(logger, gpu.Uuid);
        }

        return devices.ToImmutable();
    }

    private static NvmlMigDevice? DiscoverMigDevice(
        NvmlLibrary nvml, NvmlGpu gpu, uint slot, nint handle, NvmlMigCapabilities capabilities, ILogger logger)
    {
        // Each call only after the one before answered; the first that did not names the reason.
        uint gi = 0, ci = 0;
        NvmlDeviceAttributes attributes = default;
        var (function, r) = ("nvmlDeviceGetUUID", nvml.GetUuid(handle, out var uuid));
        if (r == NvmlReturn.Success && uuid.Length == 0)
        {
            r = NvmlReturn.Unknown;
        }

        if (r == NvmlReturn.Success)
        {
            (function, r) = ("nvmlDeviceGetGpuInstanceId", nvml.GetGpuInstanceId(handle, out gi));
        }

        if (r == NvmlReturn.Success)
        {
            (function, r) = ("nvmlDeviceGetComputeInstanceId", nvml.GetComputeInstanceId(handle, out ci));
        }

        if (r == NvmlReturn.Success)
        {
            (function, r) = ("nvmlDeviceGetAttributes_v2", nvml.GetAttributes(handle, out attributes));
        }

        if (r != NvmlReturn.Success)
        {
            NvmlLog.MigDeviceUnreadable(logger, gpu.Uuid, slot, function, nvml.Describe(r));
            return null;
        }

        if (!capabilities.TryFind(gpu.Minor, gi, null, logger, out var giMinor)
            || !capabilities.TryFind(gpu.Minor, gi, ci, logger, out var ciMinor))
        {
            NvmlLog.MigCapabilityUnknown(logger, uuid, gpu.Minor, gi, ci);
            return null;
        }

        var profile = NvmlMigProfile.Name(attributes.GpuInstanceSliceCount, attributes.ComputeInstanceSliceCount,
            attributes.MemorySizeMB, gpu.MemoryBytes);
        NvmlLog.MigDeviceDiscovered(logger, uuid, profile, gpu.Uuid, slot, gi, ci, attributes.MemorySizeMB);
        return new NvmlMigDevice
        {
            Handle = handle,
            Uuid = uuid,
            Slot = slot,
            GpuInstanceId = gi,
            ComputeInstanceId = ci,
            GpuSlices = attributes.GpuInstanceSliceCount,
            ComputeSlices = attributes.ComputeInstanceSliceCount,
            MemoryMiB = attributes.MemorySizeMB,
            Multiprocessors = attributes.MultiprocessorCount,
            Engines = (attributes.SharedCopyEngineCount, attributes.SharedDecoderCount, attributes.SharedEncoderCount,
                attributes.SharedJpegCount, attributes.SharedOfaCount),
            Profile = profile,
            GpuInstanceCapabilityMinor = giMinor,
            ComputeInstanceCapabilityMinor = ciMinor,
        };
    }

    /// <summary>
    /// The MIG devices' UUIDs by slot, read again for the periodic check (1 + 2 per device calls), or null when MIG
    /// mode is off now or the slots cannot be read.
    /// </summary>
    public static ImmutableSortedSet<string>? ReadMigUuids(NvmlLibrary nvml, nint gpu, out bool migEnabled)
    {
        migEnabled = nvml.GetMigMode(gpu, out var current, out _) == NvmlReturn.Success && current == 1;
        if (!migEnabled || !nvml.HasMig || nvml.GetMaxMigDeviceCount(gpu, out var slots) != NvmlReturn.Success)
        {
            return null;
        }

        var uuids = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        for (uint slot = 0; slot < Math.Min(slots, MaxMigSlots); slot++)
        {
            if (nvml.GetMigDeviceHandleByIndex(gpu, slot, out var handle) == NvmlReturn.Success
                && nvml.GetUuid(handle, out var uuid) == NvmlReturn.Success)
            {
                uuids.Add(uuid);
            }
        }

        return uuids.ToImmutable();
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

            NvmlLog.NumaNodeUnreadable(logger, path, $"'{text}' is not a number");
        }
        catch (IOException e)
        {
            NvmlLog.NumaNodeUnreadable(logger, path, OsErrorText.Of(e));
        }
        catch (UnauthorizedAccessException e)
        {
            NvmlLog.NumaNodeUnreadable(logger, path, OsErrorText.Of(e));
        }

        return null;
    }
}
