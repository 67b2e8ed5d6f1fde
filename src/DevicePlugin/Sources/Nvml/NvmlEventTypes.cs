namespace DevicePlugin.Sources.Nvml;

/// <summary>The nvmlEventType bits the plugin uses (nvml.h).</summary>
internal static class NvmlEventTypes
{
    public const ulong SingleBitEccError = 0x1;
    public const ulong DoubleBitEccError = 0x2;
    public const ulong XidCriticalError = 0x8;
    public const ulong MigConfigChange = 0x100;

    /// <summary>What the health monitor registers for, masked by what each GPU supports.</summary>
    public const ulong Monitored = XidCriticalError | DoubleBitEccError;

    /// <summary>The gpuInstanceId / computeInstanceId of an event that concerns the whole GPU.</summary>
    public const uint NoInstance = 0xFFFFFFFF;
}
