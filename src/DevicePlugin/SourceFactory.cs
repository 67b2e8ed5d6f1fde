using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;
using Microsoft.Extensions.Logging;

namespace DevicePlugin;

/// <summary>Creates the source for a kind the configuration uses, with the daemon's options.</summary>
public delegate IDeviceSource SourceFactory(SourceKind kind, IInventorySink sink, DaemonOptions options, bool failOnInitError, ILoggerFactory loggers, TimeProvider time);

/// <summary>
/// Where sources are registered: the factory for each <see cref="SourceKind"/> and the configuration used without
/// <c>--config</c>, composed from what each source offers by default.
/// </summary>
public static class DeviceSources
{
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
            new ResourceConfig { Name = "nvidia.com/gpu", Source = SourceKind.Nvml },
            .. PciDefaults.Resources,
        ],
    };

    public static IDeviceSource Create(SourceKind kind, IInventorySink sink, DaemonOptions options, bool failOnInitError, ILoggerFactory loggers, TimeProvider time) => kind switch
    {
        SourceKind.Simulated => new SimulatedSource(sink),
        SourceKind.Nvml => new NvmlSource(
            new NvmlSourceOptions
            {
                LibraryPath = options.NvmlLibrary,
                DriverRoot = options.DriverRoot,
                SysfsRoot = options.SysfsRoot,
                DevRoot = options.DevRoot,
                ProcRoot = options.ProcRoot,
                FailOnInitError = failOnInitError,
            },
            sink, time, loggers),
        SourceKind.Pci => new PciSource(
            new PciSourceOptions { SysfsRoot = options.SysfsRoot, DevRoot = options.DevRoot },
            sink, time, loggers),
        _ => throw new SourceInitException($"the {kind.ToConfigName()} source is not available in this build"),
    };
}
