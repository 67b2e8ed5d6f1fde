using System.Runtime.InteropServices;

namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlMemory_t (24 bytes), in bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemory
{
    public ulong Total;
    public ulong Free;
    public ulong Used;
}
