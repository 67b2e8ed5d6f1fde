using System.Runtime.InteropServices;

namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlEventData_t (32 bytes): what nvmlEventSetWait_v2 returns for one event.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlEventData
{
    /// <summary>The nvmlDevice_t the event happened on.</summary>
    public nint Device;
    public ulong EventType;

    /// <summary>For XidCriticalError events, the XID.</summary>
    public ulong EventData;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}
