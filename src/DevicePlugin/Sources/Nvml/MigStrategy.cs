namespace DevicePlugin.Sources.Nvml;

/// <summary>How an <c>nvml</c> resource advertises GPUs in MIG mode (config key <c>migStrategy</c>).</summary>
public enum MigStrategy
{
    /// <summary>Whole GPUs only; GPUs in MIG mode are left out.</summary>
    None,

    /// <summary>MIG devices under the resource's name when every GPU is in MIG mode with one profile.</summary>
#pragma warning disable CA1720 // "single" is the name NVIDIA's plugin and the config file give this strategy.
    Single,
#pragma warning restore CA1720

    /// <summary>Whole GPUs under the name, MIG devices as <c>&lt;domain&gt;/mig-&lt;profile&gt;</c>.</summary>
    Mixed,
}
