using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>The managed structs must match nvml.h byte for byte (sizes and offsets from gcc against nvml.h 13.3).</summary>
public sealed class NvmlInteropLayoutTests
{
    [Fact]
    public void PciInfo_is_68_bytes_with_the_header_offsets()
    {
        Assert.Equal(68, Unsafe.SizeOf<NvmlPciInfo>());
        Assert.Equal(68, Marshal.SizeOf<NvmlPciInfo>());
        Assert.Equal(0, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.BusIdLegacy)));
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Domain)));
        Assert.Equal(20, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Bus)));
        Assert.Equal(24, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Device)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.PciDeviceId)));
        Assert.Equal(32, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.PciSubSystemId)));
        Assert.Equal(36, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.BusId)));
    }

    [Fact]
    public void Memory_is_24_bytes()
    {
        Assert.Equal(24, Unsafe.SizeOf<NvmlMemory>());
        Assert.Equal(8, (int)Marshal.OffsetOf<NvmlMemory>(nameof(NvmlMemory.Free)));
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlMemory>(nameof(NvmlMemory.Used)));
    }

    [Fact]
    public void EventData_is_32_bytes_with_the_header_offsets()
    {
        Assert.Equal(32, Unsafe.SizeOf<NvmlEventData>());
        Assert.Equal(0, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.Device)));
        Assert.Equal(8, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.EventType)));
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.EventData)));
        Assert.Equal(24, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.GpuInstanceId)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.ComputeInstanceId)));
    }

    [Fact]
    public void DeviceAttributes_is_40_bytes_with_the_header_offsets()
    {
        Assert.Equal(40, Unsafe.SizeOf<NvmlDeviceAttributes>());
        Assert.Equal(24, (int)Marshal.OffsetOf<NvmlDeviceAttributes>(nameof(NvmlDeviceAttributes.GpuInstanceSliceCount)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlDeviceAttributes>(nameof(NvmlDeviceAttributes.ComputeInstanceSliceCount)));
        Assert.Equal(32, (int)Marshal.OffsetOf<NvmlDeviceAttributes>(nameof(NvmlDeviceAttributes.MemorySizeMB)));
    }
}
