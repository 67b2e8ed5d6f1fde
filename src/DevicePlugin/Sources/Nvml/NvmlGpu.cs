using System.Collections.Immutable;
using System.Globalization;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>One GPU as discovery found it: its NVML handle (valid while NVML stays initialised) and its properties.</summary>
internal sealed record NvmlGpu
{
    /// <summary>The variable a container gets its GPUs' (or MIG devices') UUIDs in, for the NVIDIA container runtime.</summary>
    public const string VisibleDevicesVariable = "NVIDIA_VISIBLE_DEVICES";

    public required nint Handle { get; init; }

    public required string Uuid { get; init; }

    public required string Name { get; init; }

    /// <summary>Total memory in bytes, null when NVML did not answer.</summary>
    public ulong? MemoryBytes { get; init; }

    /// <summary>The N of <c>/dev/nvidiaN</c>.</summary>
    public required uint Minor { get; init; }

    /// <summary><c>major.minor</c>, null when unknown.</summary>
    public string? ComputeCapability { get; init; }

    /// <summary>PCI address in sysfs form.</summary>
    public required string PciAddress { get; init; }

    public int? NumaNode { get; init; }

    /// <summary>PCIe path from the root complex to the GPU's parent bridge, from sysfs; empty when unknown.</summary>
    public ImmutableArray<string> PciePath { get; init; } = [];

    /// <summary>True when nvmlDeviceGetMigMode answered for this GPU: its MIG layout is re-checked with the UUIDs.</summary>
    public bool MigCapable { get; init; }

    /// <summary>True when the GPU's current MIG mode is enabled: it is not advertised whole.</summary>
    public bool MigEnabled { get; init; }

    /// <summary>The GPU's MIG devices by slot (empty unless <see cref="MigEnabled"/>).</summary>
    public ImmutableArray<NvmlMigDevice> MigDevices { get; init; } = [];

    /// <summary>The healthy inventory entry for this GPU; device nodes are host paths, always under <c>/dev</c>.</summary>
    public PhysicalDevice ToPhysicalDevice()
    {
        var attributes = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        attributes["name"] = Name;
        attributes["minor"] = Minor.ToString(CultureInfo.InvariantCulture);
        if (MemoryBytes is { } memory)
        {
            attributes["memory"] = memory.ToString(CultureInfo.InvariantCulture);
        }

        if (ComputeCapability is { } cc)
        {
            attributes["computeCapability"] = cc;
        }

        return new PhysicalDevice
        {
            Id = Uuid,
            NumaNode = NumaNode,
            PciAddress = PciAddress,
            PciePath = PciePath,
            DeviceNodes = [string.Create(CultureInfo.InvariantCulture, $"/dev/nvidia{Minor}")],
            Environment = [new(VisibleDevicesVariable, Uuid)],
            Attributes = attributes.ToImmutable(),
        };
    }
}
