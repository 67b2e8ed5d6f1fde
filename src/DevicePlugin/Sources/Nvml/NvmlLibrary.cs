// Over 300 lines on purpose: the P/Invoke binding table of every NVML entry point the plugin uses, each with its
// marshalling and missing-symbol handling; one file keeps the ABI in one place (facts/nvml-abi.md).
using System.Runtime.InteropServices;
using System.Text;
using DevicePlugin.Cli;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The NVML entry points, bound at run time from the library the operator names (<c>--nvml-library</c>).
/// <see cref="NativeLibrary"/> loads it and each export becomes an unmanaged function pointer: every argument is
/// blittable, so no marshalling code is needed or generated, and the binding is Native-AOT clean. Required
/// functions missing from the library make <see cref="Load"/> fail; optional ones (newer than some drivers) are
/// looked up once, and a missing one is logged once and answers <see cref="NvmlReturn.FunctionNotFound"/>.
/// Not thread-safe to dispose while calls are in flight: the owner stops its threads first.
/// </summary>
internal sealed unsafe class NvmlLibrary : IDisposable
{
    /// <summary>NVML_NVLINK_MAX_LINKS of current headers (older headers: 18; a GPU answers INVALID_ARGUMENT past its own).</summary>
    public const uint NvLinkMaxLinks = 36;

    private const int StringBufferLength = 96;
    private const int VersionBufferLength = 80;

    private nint _handle;

    private readonly delegate* unmanaged<NvmlReturn> _init;
    private readonly delegate* unmanaged<NvmlReturn> _shutdown;
    private readonly delegate* unmanaged<NvmlReturn, byte*> _errorString;
    private readonly delegate* unmanaged<byte*, uint, NvmlReturn> _systemGetDriverVersion;
    private readonly delegate* unmanaged<uint*, NvmlReturn> _deviceGetCount;
    private readonly delegate* unmanaged<uint, nint*, NvmlReturn> _deviceGetHandleByIndex;
    private readonly delegate* unmanaged<nint, byte*, uint, NvmlReturn> _deviceGetUuid;
    private readonly delegate* unmanaged<nint, byte*, uint, NvmlReturn> _deviceGetName;
    private readonly delegate* unmanaged<nint, NvmlPciInfo*, NvmlReturn> _deviceGetPciInfo;
    private readonly delegate* unmanaged<nint, uint*, NvmlReturn> _deviceGetMinorNumber;
    private readonly delegate* unmanaged<nint, NvmlMemory*, NvmlReturn> _deviceGetMemoryInfo;
    private readonly delegate* unmanaged<nint*, NvmlReturn> _eventSetCreate;
    private readonly delegate* unmanaged<nint, ulong, nint, NvmlReturn> _deviceRegisterEvents;
    private readonly delegate* unmanaged<nint, NvmlEventData*, uint, NvmlReturn> _eventSetWait;
    private readonly delegate* unmanaged<nint, NvmlReturn> _eventSetFree;

    private readonly delegate* unmanaged<nint, int*, int*, NvmlReturn> _deviceGetCudaComputeCapability;
    private readonly delegate* unmanaged<nint, uint*, NvmlReturn> _deviceGetNumaNodeId;
    private readonly delegate* unmanaged<nint, uint*, uint*, NvmlReturn> _deviceGetMigMode;
    private readonly delegate* unmanaged<nint, nint, int*, NvmlReturn> _deviceGetTopologyCommonAncestor;
    private readonly delegate* unmanaged<nint, uint, int*, NvmlReturn> _deviceGetNvLinkState;
    private readonly delegate* unmanaged<nint, uint, NvmlPciInfo*, NvmlReturn> _deviceGetNvLinkRemotePciInfo;
    private readonly delegate* unmanaged<nint, ulong*, NvmlReturn> _deviceGetSupportedEventTypes;
    private readonly delegate* unmanaged<int*, NvmlReturn> _systemGetCudaDriverVersion;

    private readonly delegate* unmanaged<nint, uint*, NvmlReturn> _deviceGetMaxMigDeviceCount;
    private readonly delegate* unmanaged<nint, uint, nint*, NvmlReturn> _deviceGetMigDeviceHandleByIndex;
    private readonly delegate* unmanaged<nint, uint*, NvmlReturn> _deviceGetGpuInstanceId;
    private readonly delegate* unmanaged<nint, uint*, NvmlReturn> _deviceGetComputeInstanceId;
    private readonly delegate* unmanaged<nint, NvmlDeviceAttributes*, NvmlReturn> _deviceGetAttributes;

    private NvmlLibrary(nint handle, string path, ILogger logger)
    {
        _handle = handle;
        Path = path;
        var missing = new List<string>();

        _init = (delegate* unmanaged<NvmlReturn>)Required(handle, "nvmlInit_v2", missing);
        _shutdown = (delegate* unmanaged<NvmlReturn>)Required(handle, "nvmlShutdown", missing);
        _errorString = (delegate* unmanaged<NvmlReturn, byte*>)Required(handle, "nvmlErrorString", missing);
        _systemGetDriverVersion = (delegate* unmanaged<byte*, uint, NvmlReturn>)Required(handle, "nvmlSystemGetDriverVersion", missing);
        _deviceGetCount = (delegate* unmanaged<uint*, NvmlReturn>)Required(handle, "nvmlDeviceGetCount_v2", missing);
        _deviceGetHandleByIndex = (delegate* unmanaged<uint, nint*, NvmlReturn>)Required(handle, "nvmlDeviceGetHandleByIndex_v2", missing);
        _deviceGetUuid = (delegate* unmanaged<nint, byte*, uint, NvmlReturn>)Required(handle, "nvmlDeviceGetUUID", missing);
        _deviceGetName = (delegate* unmanaged<nint, byte*, uint, NvmlReturn>)Required(handle, "nvmlDeviceGetName", missing);
        _deviceGetPciInfo = (delegate* unmanaged<nint, NvmlPciInfo*, NvmlReturn>)Required(handle, "nvmlDeviceGetPciInfo_v3", missing);
        _deviceGetMinorNumber = (delegate* unmanaged<nint, uint*, NvmlReturn>)Required(handle, "nvmlDeviceGetMinorNumber", missing);
        _deviceGetMemoryInfo = (delegate* unmanaged<nint, NvmlMemory*, NvmlReturn>)Required(handle, "nvmlDeviceGetMemoryInfo", missing);
        _eventSetCreate = (delegate* unmanaged<nint*, NvmlReturn>)Required(handle, "nvmlEventSetCreate", missing);
        _deviceRegisterEvents = (delegate* unmanaged<nint, ulong, nint, NvmlReturn>)Required(handle, "nvmlDeviceRegisterEvents", missing);
        _eventSetWait = (delegate* unmanaged<nint, NvmlEventData*, uint, NvmlReturn>)Required(handle, "nvmlEventSetWait_v2", missing);
        _eventSetFree = (delegate* unmanaged<nint, NvmlReturn>)Required(handle, "nvmlEventSetFree", missing);
        if (missing.Count > 0)
        {
            throw new SourceInitException(
                $"NVML library {path} lacks required functions {string.Join(", ", missing)}: the driver is too old or "
                + "the file is not NVML");
        }

        _deviceGetCudaComputeCapability = (delegate* unmanaged<nint, int*, int*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetCudaComputeCapability", "GPUs are advertised without a compute capability attribute", logger);
        _deviceGetNumaNodeId = (delegate* unmanaged<nint, uint*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetNumaNodeId", "each GPU's NUMA node is read from sysfs numa_node", logger);
        _deviceGetMigMode = (delegate* unmanaged<nint, uint*, uint*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetMigMode", "MIG mode is not checked: every GPU is advertised whole", logger);
        _deviceGetTopologyCommonAncestor = (delegate* unmanaged<nint, nint, int*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetTopologyCommonAncestor", "PCIe topology between GPUs falls back to their NUMA nodes", logger);
        _deviceGetNvLinkState = (delegate* unmanaged<nint, uint, int*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetNvLinkState", "NVLinks are not counted", logger);
        _deviceGetNvLinkRemotePciInfo = (delegate* unmanaged<nint, uint, NvmlPciInfo*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetNvLinkRemotePciInfo_v2", "NVLinks are not counted", logger);
        _deviceGetSupportedEventTypes = (delegate* unmanaged<nint, ulong*, NvmlReturn>)Optional(
            handle, "nvmlDeviceGetSupportedEventTypes", "health events are registered unmasked; a GPU refusing them is not monitored", logger);
        _systemGetCudaDriverVersion = (delegate* unmanaged<int*, NvmlReturn>)(
            NativeLibrary.TryGetExport(handle, "nvmlSystemGetCudaDriverVersion_v2", out var cudaV2) ? cudaV2
            : Optional(handle, "nvmlSystemGetCudaDriverVersion", "the node labels carry no CUDA version", logger));

        // MIG devices need the whole group; a driver lacking any of it is logged once, as one line.
        var migMissing = new List<string>();
        _deviceGetMaxMigDeviceCount = (delegate* unmanaged<nint, uint*, NvmlReturn>)Group(handle, "nvmlDeviceGetMaxMigDeviceCount", migMissing);
        _deviceGetMigDeviceHandleByIndex = (delegate* unmanaged<nint, uint, nint*, NvmlReturn>)Group(handle, "nvmlDeviceGetMigDeviceHandleByIndex", migMissing);
        _deviceGetGpuInstanceId = (delegate* unmanaged<nint, uint*, NvmlReturn>)Group(handle, "nvmlDeviceGetGpuInstanceId", migMissing);
        _deviceGetComputeInstanceId = (delegate* unmanaged<nint, uint*, NvmlReturn>)Group(handle, "nvmlDeviceGetComputeInstanceId", migMissing);

        // _v2: the plain symbol of CUDA 11.0 drivers fills neither the slice counts nor the memory size.
        _deviceGetAttributes = (delegate* unmanaged<nint, NvmlDeviceAttributes*, NvmlReturn>)Group(handle, "nvmlDeviceGetAttributes_v2", migMissing);
        if (_deviceGetMigMode != null && migMissing.Count > 0)
        {
            NvmlLog.MigFunctionsMissing(logger, string.Join(", ", migMissing));
        }
    }

    /// <summary>The path or file name the library was loaded from.</summary>
    public string Path { get; }

    public bool HasCudaComputeCapability => _deviceGetCudaComputeCapability != null;

    public bool HasNumaNodeId => _deviceGetNumaNodeId != null;

    public bool HasMigMode => _deviceGetMigMode != null;

    public bool HasTopologyCommonAncestor => _deviceGetTopologyCommonAncestor != null;

    public bool HasNvLink => _deviceGetNvLinkState != null && _deviceGetNvLinkRemotePciInfo != null;

    public bool HasSupportedEventTypes => _deviceGetSupportedEventTypes != null;

    /// <summary>
    /// Whether MIG devices can be enumerated: MIG mode, the slot count, handles by slot, instance ids and attributes
    /// (<c>_v2</c>) are all present. Without it, MIG is reported unsupported.
    /// </summary>
    public bool HasMig => _deviceGetMigMode != null && _deviceGetMaxMigDeviceCount != null
        && _deviceGetMigDeviceHandleByIndex != null && _deviceGetGpuInstanceId != null
        && _deviceGetComputeInstanceId != null && _deviceGetAttributes != null;

    /// <summary>
    /// Loads the library and binds its functions. Throws <see cref="SourceInitException"/> when the file cannot be
    /// loaded or lacks a required function; logs each missing optional function once. <paramref name="notFoundHint"/>
    /// is appended to the message when the file cannot be loaded (where else it was looked for).
    /// </summary>
    public static NvmlLibrary Load(string path, ILogger logger, string notFoundHint = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        nint handle;
        try
        {
            handle = NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            // No such file: no NVIDIA driver on this node. A file that is there but does not load is an error.
            var absent = !path.Contains('/', StringComparison.Ordinal) || !File.Exists(path);
            throw new SourceInitException(
                $"NVML library {path} could not be loaded (is the NVIDIA driver installed and --nvml-library right?){notFoundHint}: {OsErrorText.LoaderError(path, e)}",
                e, noHardware: absent);
        }
        catch (BadImageFormatException e)
        {
            throw new SourceInitException($"NVML library {path} is not a loadable shared library: {OsErrorText.LoaderError(path, e)}", e);
        }

        try
        {
            return new NvmlLibrary(handle, path, logger);
        }
        catch
        {
            NativeLibrary.Free(handle);
            throw;
        }
    }

    public NvmlReturn Init() => _init();

    public NvmlReturn Shutdown() => _shutdown();

    /// <summary>NVML's own description of a return code, with the code's name: <c>DRIVER_NOT_LOADED (Driver Not Loaded)</c>.</summary>
    public string Describe(NvmlReturn code)
    {
        var text = _errorString(code);
        var description = text == null ? null : Marshal.PtrToStringUTF8((nint)text);
        return $"{NameOf(code)} ({description ?? "no description"})";
    }

    /// <summary>The nvml.h name of a return code, or its number when unknown.</summary>
    public static string NameOf(NvmlReturn code) => code switch
    {
        NvmlReturn.Success => "SUCCESS",
        NvmlReturn.Uninitialized => "UNINITIALIZED",
        NvmlReturn.InvalidArgument => "INVALID_ARGUMENT",
        NvmlReturn.NotSupported => "NOT_SUPPORTED",
        NvmlReturn.NoPermission => "NO_PERMISSION",
        NvmlReturn.NotFound => "NOT_FOUND",
        NvmlReturn.InsufficientSize => "INSUFFICIENT_SIZE",
        NvmlReturn.DriverNotLoaded => "DRIVER_NOT_LOADED",
        NvmlReturn.Timeout => "TIMEOUT",
        NvmlReturn.LibraryNotFound => "LIBRARY_NOT_FOUND",
        NvmlReturn.FunctionNotFound => "FUNCTION_NOT_FOUND",
        NvmlReturn.GpuIsLost => "GPU_IS_LOST",
        NvmlReturn.ResetRequired => "RESET_REQUIRED",
        NvmlReturn.LibRmVersionMismatch => "LIB_RM_VERSION_MISMATCH",
        NvmlReturn.Unknown => "UNKNOWN",
        _ => $"error {(int)code}",
    };

    public NvmlReturn GetDriverVersion(out string version)
    {
        var buffer = stackalloc byte[VersionBufferLength];
        var r = _systemGetDriverVersion(buffer, VersionBufferLength);
        version = r == NvmlReturn.Success ? ReadString(buffer, VersionBufferLength) : "";
        return r;
    }

    /// <summary>The CUDA version the driver supports, as 1000 * major + 10 * minor (12050 = 12.5).</summary>
    public NvmlReturn GetCudaDriverVersion(out int version)
    {
        var value = 0;
        var r = _systemGetCudaDriverVersion == null ? NvmlReturn.FunctionNotFound : _systemGetCudaDriverVersion(&value);
        version = value;
        return r;
    }

    public NvmlReturn GetDeviceCount(out uint count)
    {
        uint value = 0;
        var r = _deviceGetCount(&value);
        count = value;
        return r;
    }

    public NvmlReturn GetHandleByIndex(uint index, out nint device)
    {
        nint value = 0;
        var r = _deviceGetHandleByIndex(index, &value);
        device = value;
        return r;
    }

    public NvmlReturn GetUuid(nint device, out string uuid)
    {
        var buffer = stackalloc byte[StringBufferLength];
        var r = _deviceGetUuid(device, buffer, StringBufferLength);
        uuid = r == NvmlReturn.Success ? ReadString(buffer, StringBufferLength) : "";
        return r;
    }

    public NvmlReturn GetName(nint device, out string name)
    {
        var buffer = stackalloc byte[StringBufferLength];
        var r = _deviceGetName(device, buffer, StringBufferLength);
        name = r == NvmlReturn.Success ? ReadString(buffer, StringBufferLength) : "";
        return r;
    }

    public NvmlReturn GetPciInfo(nint device, out NvmlPciInfo info)
    {
        NvmlPciInfo value = default;
        var r = _deviceGetPciInfo(device, &value);
        info = value;
        return r;
    }

    public NvmlReturn GetMinorNumber(nint device, out uint minor)
    {
        uint value = 0;
        var r = _deviceGetMinorNumber(device, &value);
        minor = value;
        return r;
    }

    public NvmlReturn GetMemoryInfo(nint device, out NvmlMemory memory)
    {
        NvmlMemory value = default;
        var r = _deviceGetMemoryInfo(device, &value);
        memory = value;
        return r;
    }

    public NvmlReturn GetCudaComputeCapability(nint device, out int major, out int minor)
    {
        int ma = 0, mi = 0;
        var r = _deviceGetCudaComputeCapability == null
            ? NvmlReturn.FunctionNotFound
            : _deviceGetCudaComputeCapability(device, &ma, &mi);
        major = ma;
        minor = mi;
        return r;
    }

    public NvmlReturn GetNumaNodeId(nint device, out uint node)
    {
        uint value = 0;
        var r = _deviceGetNumaNodeId == null ? NvmlReturn.FunctionNotFound : _deviceGetNumaNodeId(device, &value);
        node = value;
        return r;
    }

    public NvmlReturn GetMigMode(nint device, out uint current, out uint pending)
    {
        uint c = 0, p = 0;
        var r = _deviceGetMigMode == null ? NvmlReturn.FunctionNotFound : _deviceGetMigMode(device, &c, &p);
        current = c;
        pending = p;
        return r;
    }

    public NvmlReturn GetMaxMigDeviceCount(nint device, out uint count)
    {
        uint value = 0;
        var r = _deviceGetMaxMigDeviceCount == null ? NvmlReturn.FunctionNotFound : _deviceGetMaxMigDeviceCount(device, &value);
        count = value;
        return r;
    }

    /// <summary>The MIG device in slot <paramref name="index"/>; NOT_FOUND means the slot is empty.</summary>
    public NvmlReturn GetMigDeviceHandleByIndex(nint device, uint index, out nint mig)
    {
        nint value = 0;
        var r = _deviceGetMigDeviceHandleByIndex == null
            ? NvmlReturn.FunctionNotFound
            : _deviceGetMigDeviceHandleByIndex(device, index, &value);
        mig = value;
        return r;
    }

    public NvmlReturn GetGpuInstanceId(nint mig, out uint id)
    {
        uint value = 0;
        var r = _deviceGetGpuInstanceId == null ? NvmlReturn.FunctionNotFound : _deviceGetGpuInstanceId(mig, &value);
        id = value;
        return r;
    }

    public NvmlReturn GetComputeInstanceId(nint mig, out uint id)
    {
        uint value = 0;
        var r = _deviceGetComputeInstanceId == null ? NvmlReturn.FunctionNotFound : _deviceGetComputeInstanceId(mig, &value);
        id = value;
        return r;
    }

    /// <summary>nvmlDeviceGetAttributes_v2 of a MIG device: slice counts and memory.</summary>
    public NvmlReturn GetAttributes(nint mig, out NvmlDeviceAttributes attributes)
    {
        NvmlDeviceAttributes value = default;
        var r = _deviceGetAttributes == null ? NvmlReturn.FunctionNotFound : _deviceGetAttributes(mig, &value);
        attributes = value;
        return r;
    }

    public NvmlReturn GetTopologyCommonAncestor(nint first, nint second, out NvmlTopologyLevel level)
    {
        var value = 0;
        var r = _deviceGetTopologyCommonAncestor == null
            ? NvmlReturn.FunctionNotFound
            : _deviceGetTopologyCommonAncestor(first, second, &value);
        level = (NvmlTopologyLevel)value;
        return r;
    }

    /// <summary>Whether NVLink <paramref name="link"/> is up (NVML_FEATURE_ENABLED).</summary>
    public NvmlReturn GetNvLinkState(nint device, uint link, out bool enabled)
    {
        var value = 0;
        var r = _deviceGetNvLinkState == null ? NvmlReturn.FunctionNotFound : _deviceGetNvLinkState(device, link, &value);
        enabled = value == 1;
        return r;
    }

    public NvmlReturn GetNvLinkRemotePciInfo(nint device, uint link, out NvmlPciInfo info)
    {
        NvmlPciInfo value = default;
        var r = _deviceGetNvLinkRemotePciInfo == null
            ? NvmlReturn.FunctionNotFound
            : _deviceGetNvLinkRemotePciInfo(device, link, &value);
        info = value;
        return r;
    }

    public NvmlReturn GetSupportedEventTypes(nint device, out ulong types)
    {
        ulong value = 0;
        var r = _deviceGetSupportedEventTypes == null
            ? NvmlReturn.FunctionNotFound
            : _deviceGetSupportedEventTypes(device, &value);
        types = value;
        return r;
    }

    public NvmlReturn EventSetCreate(out nint set)
    {
        nint value = 0;
        var r = _eventSetCreate(&value);
        set = value;
        return r;
    }

    public NvmlReturn RegisterEvents(nint device, ulong types, nint set) => _deviceRegisterEvents(device, types, set);

    /// <summary>Blocks up to <paramref name="timeoutMs"/> for one event: call it on a dedicated thread only.</summary>
    public NvmlReturn EventSetWait(nint set, out NvmlEventData data, uint timeoutMs)
    {
        NvmlEventData value = default;
        var r = _eventSetWait(set, &value, timeoutMs);
        data = value;
        return r;
    }

    public NvmlReturn EventSetFree(nint set) => _eventSetFree(set);

    /// <summary>Unloads the library. Call <see cref="Shutdown"/> first when <see cref="Init"/> succeeded.</summary>
    public void Dispose()
    {
        var handle = Interlocked.Exchange(ref _handle, 0);
        if (handle != 0)
        {
            NativeLibrary.Free(handle);
        }
    }

    private static nint Required(nint handle, string name, List<string> missing)
    {
        if (NativeLibrary.TryGetExport(handle, name, out var address))
        {
            return address;
        }

        missing.Add(name);
        return 0;
    }

    private static nint Optional(nint handle, string name, string consequence, ILogger logger)
    {
        if (NativeLibrary.TryGetExport(handle, name, out var address))
        {
            return address;
        }

        NvmlLog.OptionalFunctionMissing(logger, name, consequence);
        return 0;
    }

    private static nint Group(nint handle, string name, List<string> missing)
    {
        if (NativeLibrary.TryGetExport(handle, name, out var address))
        {
            return address;
        }

        missing.Add(name);
        return 0;
    }

    private static string ReadString(byte* buffer, int length)
    {
        var span = new ReadOnlySpan<byte>(buffer, length);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }
}
