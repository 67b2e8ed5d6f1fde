using DevicePlugin.Inventory;

namespace DevicePlugin.Configuration;

/// <summary>
/// What the plugin advertises without <c>--config</c>: <c>nvidia.com/gpu</c> from NVML where NVML loads. A source
/// that cannot start under the defaults is logged and skipped, never fatal. The README lists these defaults.
/// </summary>
public static class DefaultConfig
{
    public static PluginConfig Create() => new()
    {
        IsDefault = true,
        Resources =
        [
            new ResourceConfig { Name = "nvidia.com/gpu", Source = SourceKind.Nvml },
        ],
    };
}
