using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;
using DevicePlugin.Sources;

namespace DevicePlugin;

/// <summary>Creates the source for a kind the configuration uses, with what its daemon gives it.</summary>
public delegate IDeviceSource SourceFactory(SourceKind kind, SourceContext context);

/// <summary>
/// Where sources are registered: one line per source (its config schema and how it is created), and the
/// configuration used without <c>--config</c>, composed from what each source offers by default.
/// </summary>
public static class DeviceSources
{
    /// <summary>Every source this build has; the order is the order messages list them in.</summary>
    public static SourceCatalog Builtin { get; } = new(
        new SourceRegistration(new NvmlSchema(), NvmlSource.Create),
        new SourceRegistration(new PciSchema(), PciSource.Create),
        new SourceRegistration(new SimulatedSchema(), SimulatedSource.Create));

    /// <summary>The config schemas of <see cref="Builtin"/>: what <c>--config</c> files are read with.</summary>
    public static SourceSchemas Schemas => Builtin.Schemas;

    /// <summary>
    /// What the plugin advertises without <c>--config</c>: <c>nvidia.com/gpu</c> from NVML where NVML loads, and the PCI
    /// defaults of <see cref="PciDefaults"/> (AMD GPUs, Alveo user functions, DFL FPGA ports) where sysfs has them. A
    /// source that cannot start under the defaults is logged and skipped, never fatal. The README lists these defaults.
    /// </summary>
    public static PluginConfig DefaultConfig() => new()
    {
        IsDefault = true,
        Resources =
        [
            new ResourceConfig { Name = "nvidia.com/gpu", Source = NvmlSchema.Kind, Settings = new NvmlSettings() },
            .. PciDefaults.Resources,
        ],
    };

    public static IDeviceSource Create(SourceKind kind, SourceContext context) => Builtin.Create(kind, context);
}
