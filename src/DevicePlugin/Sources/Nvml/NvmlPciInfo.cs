using System.Runtime.InteropServices;

namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlPciInfo_t (68 bytes): the layout nvmlDeviceGetPciInfo_v3 and nvmlDeviceGetNvLinkRemotePciInfo_v2 fill.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    public const int BusIdLegacyLength = 16;
    public const int BusIdLength = 32;

    public fixed byte BusIdLegacy[BusIdLegacyLength];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[BusIdLength];

    /// <summary>The bus ID NVML prints (<c>00000000:3B:00.0</c>), read up to its terminating NUL.</summary>
    public readonly string BusIdText
    {
        get
        {
            fixed (byte* p = BusId)
            {
                var span = new ReadOnlySpan<byte>(p, BusIdLength);
                var end = span.IndexOf((byte)0);
                return System.Text.Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
            }
        }
    }
}
