using DevicePlugin.Configuration;

namespace DevicePlugin.Sources.Nvml;

/// <summary>An <c>nvml</c> resource's own settings.</summary>
public sealed record NvmlSettings : ISourceSettings
{
    /// <summary>How GPUs in MIG mode are advertised (<c>migStrategy</c>, default <c>none</c>).</summary>
    public MigStrategy MigStrategy { get; init; }
}
