using DevicePlugin.Cli;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;
using Microsoft.Extensions.Logging;

namespace DevicePlugin;

/// <summary>Creates the source for a kind the configuration uses, with the daemon's options.</summary>
public delegate IDeviceSource SourceFactory(SourceKind kind, IInventorySink sink, DaemonOptions options, bool failOnInitError, ILoggerFactory loggers, TimeProvider time);

public static class DeviceSources
{
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
