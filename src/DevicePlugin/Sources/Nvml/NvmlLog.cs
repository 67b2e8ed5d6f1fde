using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>The nvml source's log messages (event IDs 3000-3099).</summary>
internal static partial class NvmlLog
{
    [LoggerMessage(3000, LogLevel.Warning, "NVML function {Function} is missing from this driver: {Consequence}")]
    public static partial void OptionalFunctionMissing(ILogger logger, string function, string consequence);

    [LoggerMessage(3001, LogLevel.Information,
        "NVML {Library} started: driver {DriverVersion}, {DeviceCount} GPU(s), {Advertised} advertised, {MigSkipped} in MIG mode left out")]
    public static partial void NvmlStarted(ILogger logger, string library, string driverVersion, uint deviceCount, int advertised, int migSkipped);

    [LoggerMessage(3002, LogLevel.Information,
        "GPU {Uuid} ({Name}) pci {PciAddress} minor {Minor} memory {MemoryMiB} MiB numa {NumaNode} compute capability {ComputeCapability}")]
    public static partial void GpuDiscovered(ILogger logger, string uuid, string name, string pciAddress, uint minor,
        string memoryMiB, string numaNode, string computeCapability);

    [LoggerMessage(3003, LogLevel.Error, "GPU at NVML index {Index} is left out: {Function} answered {Error}")]
    public static partial void GpuUnreadable(ILogger logger, uint index, string function, string error);

    [LoggerMessage(3004, LogLevel.Information,
        "GPU {Uuid} at {PciAddress} is in MIG mode: it is not advertised whole, its MIG devices are (migStrategy single or mixed)")]
    public static partial void MigGpuFound(ILogger logger, string uuid, string pciAddress);

    [LoggerMessage(3005, LogLevel.Warning, "NUMA node unknown: {Path} could not be read: {Reason}")]
    public static partial void NumaNodeUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(3006, LogLevel.Warning,
        "PCIe topology between GPUs {First} and {Second} unknown (nvmlDeviceGetTopologyCommonAncestor answered {Error}); using their NUMA nodes")]
    public static partial void TopologyUnreadable(ILogger logger, string first, string second, string error);

    [LoggerMessage(3007, LogLevel.Warning, "NVLink {Link} of GPU {Uuid} could not be read: {Error}")]
    public static partial void NvLinkUnreadable(ILogger logger, string uuid, uint link, string error);

    [LoggerMessage(3008, LogLevel.Error, "NVML health events are unavailable (nvmlEventSetCreate answered {Error}): only lost GPUs are detected")]
    public static partial void EventSetUnavailable(ILogger logger, string error);

    [LoggerMessage(3009, LogLevel.Error, "the NVML health thread did not stop within {Seconds} s; NVML is left loaded")]
    public static partial void HealthThreadStuck(ILogger logger, double seconds);

    [LoggerMessage(3010, LogLevel.Warning,
        "GPU {Uuid}: nvmlDeviceGetSupportedEventTypes answered {Error}; registering for XID and double-bit ECC events unmasked")]
    public static partial void SupportedEventTypesUnreadable(ILogger logger, string uuid, string error);

    [LoggerMessage(3011, LogLevel.Warning, "GPU {Uuid} is not monitored for XID/ECC events: {Reason}")]
    public static partial void GpuNotMonitored(ILogger logger, string uuid, string reason);

    [LoggerMessage(3012, LogLevel.Debug, "NVML event of type 0x{EventType:x} ignored")]
    public static partial void EventIgnored(ILogger logger, ulong eventType);

    [LoggerMessage(3013, LogLevel.Information, "XID {Xid} on {Device} ignored (health.ignoredXids)")]
    public static partial void XidIgnored(ILogger logger, string device, ulong xid);

    [LoggerMessage(3014, LogLevel.Warning, "critical XID {Xid} on {Device}")]
    public static partial void XidCritical(ILogger logger, string device, ulong xid);

    [LoggerMessage(3015, LogLevel.Warning, "double-bit ECC error on {Device}")]
    public static partial void DoubleBitEcc(ILogger logger, string device);

    [LoggerMessage(3016, LogLevel.Error, "every GPU is marked unhealthy: {Reason}")]
    public static partial void AllGpusFaulted(ILogger logger, string reason);

    [LoggerMessage(3017, LogLevel.Warning, "GPU {Uuid} does not answer NVML: {Error}")]
    public static partial void GpuNotAnswering(ILogger logger, string uuid, string error);

    [LoggerMessage(3018, LogLevel.Debug, "GPU {Uuid} is now {Health}: {Reason}")]
    public static partial void HealthChanged(ILogger logger, string uuid, DeviceHealth health, string reason);

    [LoggerMessage(3019, LogLevel.Information, "shared NVIDIA device nodes now: [{Nodes}]")]
    public static partial void SharedDeviceNodesChanged(ILogger logger, string nodes);

    [LoggerMessage(3020, LogLevel.Warning, "nvmlShutdown answered {Error}")]
    public static partial void ShutdownFailed(ILogger logger, string error);

    [LoggerMessage(3021, LogLevel.Error,
        "the nvml source cannot start and advertises nothing: {Reason}. Retrying every {Seconds} s")]
    public static partial void RunningDegraded(ILogger logger, string reason, double seconds);

    [LoggerMessage(3044, LogLevel.Warning,
        "no NVIDIA GPU to advertise with the built-in defaults (normal on a node without one): {Reason}. Retrying every {Seconds} s")]
    public static partial void NoNvidiaHardware(ILogger logger, string reason, double seconds);

    [LoggerMessage(3022, LogLevel.Information, "NVML is available now: the nvml source started")]
    public static partial void RetrySucceeded(ILogger logger);

    [LoggerMessage(3024, LogLevel.Error, "publishing the nvml source's snapshots failed")]
    public static partial void PublishFailed(ILogger logger, Exception exception);

    [LoggerMessage(3025, LogLevel.Warning, "NVML now counts {Count} GPU(s), {Previous} before: discovering the GPUs again")]
    public static partial void GpuCountChanged(ILogger logger, uint previous, uint count);

    [LoggerMessage(3026, LogLevel.Warning, "the GPUs NVML enumerates changed (new: [{Appeared}], gone: [{Vanished}]): discovering the GPUs again")]
    public static partial void GpuUuidsChanged(ILogger logger, string appeared, string vanished);

    [LoggerMessage(3027, LogLevel.Warning, "GPU {Uuid} at {PciAddress} is no longer advertised: {Reason}")]
    public static partial void GpuGone(ILogger logger, string uuid, string pciAddress, string reason);

    [LoggerMessage(3028, LogLevel.Warning,
        "GPU {Uuid} at {PciAddress} could not be read again but may still be on the node: it stays listed with its earlier properties")]
    public static partial void GpuKeptUnreadable(ILogger logger, string uuid, string pciAddress);

    [LoggerMessage(3029, LogLevel.Warning, "checking the GPU set failed: nvmlDeviceGetCount_v2 answered {Error}; the GPUs stay as they are")]
    public static partial void RescanCountFailed(ILogger logger, string error);

    [LoggerMessage(3030, LogLevel.Error, "discovering the GPUs again failed, the GPUs stay as they are: {Reason}")]
    public static partial void RescanFailed(ILogger logger, string reason);

    [LoggerMessage(3031, LogLevel.Information, "GPU set changed: {Count} GPU(s) advertised, added [{Added}], removed [{Removed}]")]
    public static partial void GpuSetChanged(ILogger logger, int count, string added, string removed);

    [LoggerMessage(3032, LogLevel.Warning,
        "NVML MIG functions are missing from this driver ({Functions}): MIG is unsupported, and GPUs in MIG mode advertise no MIG devices")]
    public static partial void MigFunctionsMissing(ILogger logger, string functions);

    [LoggerMessage(3033, LogLevel.Warning,
        "GPU {Uuid} is in MIG mode and NVML refuses its total memory (NO_PERMISSION): the plugin lacks CAP_SYS_ADMIN, so MIG profile "
        + "names take GB from each instance's own memory and may differ from NVIDIA's (see docs/nvml.md, Deployment)")]
    public static partial void MigParentMemoryRefused(ILogger logger, string uuid);

    [LoggerMessage(3034, LogLevel.Error, "the MIG devices of GPU {Uuid} cannot be listed: {Function} answered {Error}")]
    public static partial void MigDevicesUnreadable(ILogger logger, string uuid, string function, string error);

    [LoggerMessage(3035, LogLevel.Error, "MIG device in slot {Slot} of GPU {Uuid} is left out: {Function} answered {Error}")]
    public static partial void MigDeviceUnreadable(ILogger logger, string uuid, uint slot, string function, string error);

    [LoggerMessage(3036, LogLevel.Warning, "GPU {Uuid} is in MIG mode without MIG devices: it advertises nothing")]
    public static partial void MigGpuEmpty(ILogger logger, string uuid);

    [LoggerMessage(3037, LogLevel.Error,
        "MIG device {Uuid} is left out: no capability minor for gpu{GpuMinor}/gi{Gi}/ci{Ci} in --proc-root's driver/nvidia-caps/mig-minors "
        + "or driver/nvidia/capabilities (is /proc/driver/nvidia mounted?)")]
    public static partial void MigCapabilityUnknown(ILogger logger, string uuid, uint gpuMinor, uint gi, uint ci);

    [LoggerMessage(3038, LogLevel.Information,
        "MIG device {Uuid} profile {Profile} on GPU {Parent} slot {Slot}: GPU instance {Gi}, compute instance {Ci}, memory {MemoryMiB} MiB")]
    public static partial void MigDeviceDiscovered(ILogger logger, string uuid, string profile, string parent, uint slot, uint gi, uint ci, ulong memoryMiB);

    [LoggerMessage(3039, LogLevel.Warning, "MIG capability file {Path} could not be read: {Reason}")]
    public static partial void MigCapabilityUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(3040, LogLevel.Information, "MIG configuration changed on {Gpu}: discovering the GPUs again")]
    public static partial void MigConfigChanged(ILogger logger, string gpu);

    [LoggerMessage(3041, LogLevel.Warning, "the MIG devices of GPU {Uuid} changed: discovering the GPUs again")]
    public static partial void MigLayoutChanged(ILogger logger, string uuid);

    [LoggerMessage(3042, LogLevel.Error, "resource {Resource} (migStrategy single) advertises nothing: {Reason}")]
    public static partial void MigSingleRefused(ILogger logger, string resource, string reason);

    [LoggerMessage(3043, LogLevel.Information, "resource {Resource} (migStrategy single) advertises devices again: {What}")]
    public static partial void MigSingleAccepted(ILogger logger, string resource, string what);
}
