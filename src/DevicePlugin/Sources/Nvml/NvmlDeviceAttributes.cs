using System.Runtime.InteropServices;

namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlDeviceAttributes_t (40 bytes), as nvmlDeviceGetAttributes_v2 fills it for a MIG device.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlDeviceAttributes
{
    public uint MultiprocessorCount;
    public uint SharedCopyEngineCount;
    public uint SharedDecoderCount;
    public uint SharedEncoderCount;
    public uint SharedJpegCount;
    public uint SharedOfaCount;
    public uint GpuInstanceSliceCount;
    public uint ComputeInstanceSliceCount;

    /// <summary>The instance's memory in MiB.</summary>
    public ulong MemorySizeMB;
}
