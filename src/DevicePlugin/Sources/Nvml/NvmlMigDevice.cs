using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// One MIG device (a compute instance inside a GPU instance) as discovery found it: its handle (valid while NVML
/// stays initialised and the instance exists), identity, profile and the device nodes a container needs for it.
/// Placement (NUMA node, PCIe path) is its parent GPU's.
/// </summary>
internal sealed record NvmlMigDevice
{
    public required nint Handle { get; init; }

    /// <summary><c>MIG-…</c>: the device ID the kubelet sees.</summary>
    public required string Uuid { get; init; }

    /// <summary>The slot nvmlDeviceGetMigDeviceHandleByIndex found it in.</summary>
    public required uint Slot { get; init; }

    public required uint GpuInstanceId { get; init; }

    public required uint ComputeInstanceId { get; init; }

    public required uint GpuSlices { get; init; }

    public required uint ComputeSlices { get; init; }

    /// <summary>The instance's memory in MiB (nvmlDeviceGetAttributes_v2 memorySizeMB).</summary>
    public required ulong MemoryMiB { get; init; }

    /// <summary>Streaming multiprocessors of the compute instance (attributes multiprocessorCount).</summary>
    public uint Multiprocessors { get; init; }

    /// <summary>Copy, decoder, encoder, JPEG and OFA engines the instance shares (attributes shared*Count).</summary>
    public (uint Copy, uint Decoder, uint Encoder, uint Jpeg, uint Ofa) Engines { get; init; }

    /// <summary>The profile name, <c>3g.40gb</c> or <c>1c.3g.20gb</c> (see <see cref="NvmlMigProfile"/>).</summary>
    public required string Profile { get; init; }

    /// <summary>Minor of <c>/dev/nvidia-caps/nvidia-cap&lt;N&gt;</c> for the GPU instance.</summary>
    public required uint GpuInstanceCapabilityMinor { get; init; }

    /// <summary>Minor of <c>/dev/nvidia-caps/nvidia-cap&lt;N&gt;</c> for the compute instance.</summary>
    public required uint ComputeInstanceCapabilityMinor { get; init; }

    /// <summary>The inventory entry while healthy: parent node plus both capability nodes, the parent's placement.</summary>
    public PhysicalDevice ToPhysicalDevice(NvmlGpu parent)
    {
        var attributes = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        attributes["name"] = parent.Name;
        attributes["parent"] = parent.Uuid;
        attributes["minor"] = parent.Minor.ToString(CultureInfo.InvariantCulture);
        attributes["profile"] = Profile;
        attributes["gpuInstance"] = GpuInstanceId.ToString(CultureInfo.InvariantCulture);
        attributes["computeInstance"] = ComputeInstanceId.ToString(CultureInfo.InvariantCulture);
        attributes["memory"] = (MemoryMiB * 1024 * 1024).ToString(CultureInfo.InvariantCulture);
        if (parent.ComputeCapability is { } cc)
        {
            attributes["computeCapability"] = cc;
        }

        return new PhysicalDevice
        {
            Id = Uuid,
            NumaNode = parent.NumaNode,
            PciAddress = parent.PciAddress,
            PciePath = parent.PciePath,
            DeviceNodes =
            [
                string.Create(CultureInfo.InvariantCulture, $"/dev/nvidia{parent.Minor}"),
                string.Create(CultureInfo.InvariantCulture, $"/dev/nvidia-caps/nvidia-cap{GpuInstanceCapabilityMinor}"),
                string.Create(CultureInfo.InvariantCulture, $"/dev/nvidia-caps/nvidia-cap{ComputeInstanceCapabilityMinor}"),
            ],
            Environment = [new(NvmlGpu.VisibleDevicesVariable, Uuid)],
            Attributes = attributes.ToImmutable(),
        };
    }
}
