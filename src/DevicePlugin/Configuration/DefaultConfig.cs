using DevicePlugin.Inventory;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Configuration;

/// <summary>
/// What the plugin advertises without <c>--config</c>: <c>nvidia.com/gpu</c> from NVML where NVML loads, and the PCI
/// defaults of <see cref="PciDefaults"/> (AMD GPUs, Alveo user functions, DFL FPGA ports) where sysfs has them. A
/// source that cannot start under the defaults is logged and skipped, never fatal. The README lists these defaults.
/// </summary>
public static class DefaultConfig
{
    public static PluginConfig Create() => new()
    {
        IsDefault = true,
        Resources =
        [
            new ResourceConfig { Name = "nvidia.com/gpu", Source = SourceKind.Nvml },
            .. PciDefaults.Resources,
        ],
    };
}
