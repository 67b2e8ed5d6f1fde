namespace DevicePlugin.Sources.Nvml;

/// <summary>nvmlReturn_t: the 4-byte result of every NVML call (values from nvml.h).</summary>
internal enum NvmlReturn
{
    Success = 0,
    Uninitialized = 1,
    InvalidArgument = 2,
    NotSupported = 3,
    NoPermission = 4,
    NotFound = 6,
    InsufficientSize = 7,
    DriverNotLoaded = 9,
    Timeout = 10,
    LibraryNotFound = 12,
    FunctionNotFound = 13,
    GpuIsLost = 15,
    ResetRequired = 16,
    LibRmVersionMismatch = 18,
    Unknown = 999,
}
