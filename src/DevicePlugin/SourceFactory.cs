using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;
using DevicePlugin.Sources;
using Microsoft.Extensions.Logging;

namespace DevicePlugin;

/// <summary>Creates the source for a kind the configuration uses, with what its daemon gives it.</summary>
public delegate IDeviceSource SourceFactory(SourceKind kind, SourceContext context);

/// <summary>
/// What a daemon gives each source it creates: where to publish, its options, whether a start failure is fatal, its
/// loggers and clock, its own metrics (never a process-wide meter) and where its background loops report failures.
/// </summary>
public sealed record SourceContext(
    IInventorySink Sink, DaemonOptions Options, bool FailOnInitError, ILoggerFactory Loggers, TimeProvider Time, ISourceMetrics Metrics,
    LoopHealth? Loops = null);

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

    public static IDeviceSource Create(SourceKind kind, SourceContext context) => kind switch
    {
        SourceKind.Simulated => new SimulatedSource(context.Sink),
        SourceKind.Nvml => new NvmlSource(
            new NvmlSourceOptions
            {
                LibraryPath = context.Options.NvmlLibrary,
                DriverRoot = context.Options.DriverRoot,
                SysfsRoot = context.Options.SysfsRoot,
                DevRoot = context.Options.DevRoot,
                ProcRoot = context.Options.ProcRoot,
                FailOnInitError = context.FailOnInitError,
            },
            context.Sink, context.Time, context.Loggers, context.Metrics, context.Loops),
        SourceKind.Pci => new PciSource(
            new PciSourceOptions { SysfsRoot = context.Options.SysfsRoot, DevRoot = context.Options.DevRoot },
            context.Sink, context.Time, context.Loggers, context.Loops),
        _ => throw new SourceInitException($"the {kind.ToConfigName()} source is not available in this build"),
    };
}
