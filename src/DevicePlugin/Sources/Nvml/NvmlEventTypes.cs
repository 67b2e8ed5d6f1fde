namespace DevicePlugin.Sources.Nvml;

/// <summary>The nvmlEventType bits the plugin uses (nvml.h).</summary>
internal static class NvmlEventTypes
{
    public const ulong SingleBitEccError = 0x1;
    public const ulong DoubleBitEccError = 0x2;
    public const ulong XidCriticalError = 0x8;

    /// <summary>What the health monitor registers for, masked by what each GPU supports.</summary>
    public const ulong Monitored = XidCriticalError | DoubleBitEccError;
}
