// Over 300 lines on purpose: one bounded, cycle-safe walk of the sysfs PCI tree together with the parsing of what
// it reads; the bounds (depth, entries, file size) are enforced in one place.
using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>
/// Reads PCI functions from a sysfs tree. Read-only; never follows a link while walking (only the
/// <c>bus/pci/devices</c> entries are resolved, by arithmetic on their relative targets); an unreadable file or
/// device is logged and skipped.
/// </summary>
internal sealed class PciScanner
{
    /// <summary>Deeper than any real device subtree; stops a pathological tree from running away.</summary>
    private const int MaxWalkDepth = 24;

    private readonly ILogger _logger;

    /// <summary>Problems already logged: a broken file is reported once, not at every rescan.</summary>
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);

    public PciScanner(string sysfsRoot, ILogger logger)
    {
        SysfsRoot = Path.GetFullPath(sysfsRoot);
        DevicesRoot = Path.Combine(SysfsRoot, "devices");
        Listing = Path.Combine(SysfsRoot, "bus", "pci", "devices");
        _logger = logger;
    }

    public string SysfsRoot { get; }

    /// <summary><c>&lt;root&gt;/bus/pci/devices</c>.</summary>
    public string Listing { get; }

    private string DevicesRoot { get; }

    /// <summary>
    /// The PCI addresses listed in <c>bus/pci/devices</c>, sorted. Throws (IOException, UnauthorizedAccessException)
    /// when the listing itself cannot be read: without it there is nothing to scan.
    /// </summary>
    public List<string> ListAddresses()
    {
        var entries = new List<(string Name, byte Type)>();
        if (!SysfsDirectory.TryList(Listing, entries, out var error))
        {
            throw new IOException(error);
        }

        var names = new List<string>(entries.Count);
        foreach (var (name, _) in entries)
        {
            if (PciAddressName.IsPciAddress(name))
            {
                names.Add(name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// A cheap fingerprint of the listing (entry count and an order-independent hash of the names), to notice a
    /// hot-plug without reading any device. Null when the listing cannot be read.
    /// </summary>
    public (int Count, int Hash)? ListingFingerprint() => SysfsDirectory.Fingerprint(Listing);

    /// <summary>
    /// Resolves a listing entry to the function's real directory and its PCIe path, by reading the link and
    /// normalising the path (no link is followed). False, logged, when the entry is not a link into the device tree.
    /// </summary>
    public bool TryResolve(string address, out string directory, out ImmutableArray<string> pciePath)
    {
        directory = "";
        pciePath = [];
        var entry = Path.Combine(Listing, address);
        var target = SysfsFile.ReadLink(entry);
        if (target is null)
        {
            ReportDevice(address, $"{entry} is not a symbolic link");
            return false;
        }

        string resolved;
        if (!target.StartsWith('/'))
        {
            resolved = Path.GetFullPath(Path.Combine(Listing, target));
        }
        else if (target.StartsWith(SysfsRoot + "/", StringComparison.Ordinal))
        {
            resolved = Path.GetFullPath(target);
        }
        else
        {
            // An absolute target names the real sysfs (/sys/devices/...): map it into the configured root.
            resolved = Path.GetFullPath(Path.Combine(SysfsRoot, Path.GetRelativePath("/sys", target)));
        }

        if (!resolved.StartsWith(DevicesRoot + "/", StringComparison.Ordinal))
        {
            ReportDevice(address, $"{entry} points to {target}, outside {DevicesRoot}");
            return false;
        }

        var segments = resolved[(DevicesRoot.Length + 1)..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length < 2 || segments[^1] != address || !segments[0].StartsWith("pci", StringComparison.Ordinal))
        {
            ReportDevice(address, $"{entry} points to {target}, which is not a PCI function below a pciDDDD:BB root");
            return false;
        }

        directory = resolved;
        pciePath = [.. segments[..^1]];
        return true;
    }

    /// <summary>
    /// Reads one function; null (logged) when a required attribute cannot be read. The rest (NUMA, links, AER,
    /// device nodes) is only read when <paramref name="wantDetails"/>, given the identity, says so: a scan need not
    /// walk the subtrees of the many functions no resource wants.
    /// </summary>
    public PciFunctionInfo? Read(string address, Func<PciFunctionInfo, bool>? wantDetails = null)
    {
        if (!TryResolve(address, out var directory, out var pciePath))
        {
            return null;
        }

        return ReadAt(address, directory, pciePath, wantDetails);
    }

    /// <summary>Reads one function whose directory is known; null (logged) when a required attribute cannot be read.</summary>
    public PciFunctionInfo? ReadAt(string address, string directory, ImmutableArray<string> pciePath,
        Func<PciFunctionInfo, bool>? wantDetails = null)
    {
        if (!TryReadHex(directory, "vendor", out var vendor, out var error)
            || !TryReadHex(directory, "device", out var device, out error)
            || !TryReadHex(directory, "class", out var classCode, out error))
        {
            ReportDevice(address, error);
            return null;
        }

        if (vendor > ushort.MaxValue || device > ushort.MaxValue || classCode > 0xFFFFFF)
        {
            ReportDevice(address, $"vendor 0x{vendor:x}, device 0x{device:x} or class 0x{classCode:x} is out of range");
            return null;
        }

        var identity = new PciFunctionInfo
        {
            Address = address,
            Directory = directory,
            PciePath = pciePath,
            Vendor = (ushort)vendor,
            Device = (ushort)device,
            Class = classCode,
            Driver = ReadDriver(directory),
            HasDetails = false,
        };
        if (wantDetails is not null && !wantDetails(identity))
        {
            return identity;
        }

        return identity with
        {
            HasDetails = true,
            SubsystemVendor = OptionalHex16(address, directory, "subsystem_vendor"),
            SubsystemDevice = OptionalHex16(address, directory, "subsystem_device"),
            NumaNode = ReadNumaNode(address, directory),
            IommuGroup = SysfsFile.ReadLinkName(Path.Combine(directory, "iommu_group")),
            LinkSpeed = OptionalText(address, directory, "current_link_speed"),
            LinkWidth = OptionalText(address, directory, "current_link_width"),
            AerFatalCount = ReadAerFatal(directory),
            CharDeviceNodes = FindCharDeviceNodes(address, directory),
        };
    }

    /// <summary>The bound driver's name (the basename of the <c>driver</c> link), or null when unbound.</summary>
    public string? ReadDriver(string directory) => SysfsFile.ReadLinkName(Path.Combine(directory, "driver"));

    /// <summary><c>TOTAL_ERR_FATAL</c> of <c>aer_dev_fatal</c>, or null when absent or unreadable.</summary>
    public long? ReadAerFatal(string directory)
    {
        if (!SysfsFile.TryRead(Path.Combine(directory, "aer_dev_fatal"), out var text, out _))
        {
            return null;
        }

        foreach (var line in text.AsSpan().EnumerateLines())
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith("TOTAL_ERR_FATAL", StringComparison.Ordinal)
                && long.TryParse(trimmed["TOTAL_ERR_FATAL".Length..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                return count;
            }
        }

        return null;
    }

    /// <summary>
    /// Every character device below the function's directory at any depth: directories with a <c>dev</c> file
    /// whose <c>uevent</c> names a <c>DEVNAME</c>, skipping links, block devices and child PCI functions.
    /// Returned as sorted host paths under /dev.
    /// </summary>
    public ImmutableArray<string> FindCharDeviceNodes(string address, string directory)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<(string Dir, int Depth)>();
        var entries = new List<(string Name, byte Type)>();
        pending.Push((directory, 0));
        while (pending.Count > 0)
        {
            var (dir, depth) = pending.Pop();
            var hasDev = false;
            var hasUevent = false;
            entries.Clear();
            if (!SysfsDirectory.TryList(dir, entries, out var error))
            {
                ReportFile(address, dir, error);
                continue;
            }

            foreach (var (name, type) in entries)
            {
                var isDir = type == SysfsDirectory.TypeDirectory
                    || (type == SysfsDirectory.TypeUnknown && SysfsFile.ReadLink(Path.Combine(dir, name)) is null
                        && Directory.Exists(Path.Combine(dir, name)));
                if (isDir)
                {
                    if (depth < MaxWalkDepth && !PciAddressName.IsPciAddress(name))
                    {
                        pending.Push((Path.Combine(dir, name), depth + 1));
                    }
                }
                else if (type is SysfsDirectory.TypeRegular or SysfsDirectory.TypeUnknown)
                {
                    hasDev |= name == "dev";
                    hasUevent |= name == "uevent";
                }
            }

            if (depth > 0 && hasDev && hasUevent && TryReadDevName(address, dir, out var devName)
                && SysfsFile.ReadLinkName(Path.Combine(dir, "subsystem")) != "block")
            {
                found.Add("/dev/" + devName);
            }
        }

        return [.. found];
    }

    /// <summary>The NUMA node, or null when unknown (-1), absent or unreadable.</summary>
    public int? ReadNumaNode(string address, string directory)
    {
        var text = OptionalText(address, directory, "numa_node");
        if (text is null)
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var node))
        {
            ReportFile(address, Path.Combine(directory, "numa_node"), $"not a number: '{text}'");
            return null;
        }

        return node < 0 ? null : node;
    }

    private bool TryReadDevName(string address, string dir, out string devName)
    {
        devName = "";
        var path = Path.Combine(dir, "uevent");
        if (!SysfsFile.TryRead(path, out var text, out var error))
        {
            ReportFile(address, path, error);
            return false;
        }

        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("DEVNAME=", StringComparison.Ordinal))
            {
                var name = line["DEVNAME=".Length..].Trim().TrimStart('/');
                if (name.IsEmpty || name.Contains("..", StringComparison.Ordinal))
                {
                    ReportFile(address, path, $"unusable DEVNAME '{line.ToString()}'");
                    return false;
                }

                devName = name.ToString();
                return true;
            }
        }

        return false;
    }

    private static bool TryReadHex(string directory, string file, out uint value, out string error)
    {
        value = 0;
        var path = Path.Combine(directory, file);
        if (!SysfsFile.TryRead(path, out var text, out error))
        {
            return false;
        }

        var digits = text.AsSpan().Trim();
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            digits = digits[2..];
        }

        if (digits.IsEmpty || !uint.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
        {
            error = $"{path} is not a hexadecimal number: '{text}'";
            return false;
        }

        return true;
    }

    private ushort? OptionalHex16(string address, string directory, string file)
    {
        if (TryReadHex(directory, file, out var value, out var error) && value <= ushort.MaxValue)
        {
            return (ushort)value;
        }

        var path = Path.Combine(directory, file);
        if (Path.Exists(path))
        {
            ReportFile(address, path, error.Length > 0 ? error : $"0x{value:x} is out of range");
        }

        return null;
    }

    private string? OptionalText(string address, string directory, string file)
    {
        var path = Path.Combine(directory, file);
        if (SysfsFile.TryRead(path, out var text, out var error))
        {
            return text.Trim();
        }

        if (Path.Exists(path))
        {
            ReportFile(address, path, error);
        }

        return null;
    }

    private void ReportDevice(string address, string reason)
    {
        lock (_reported)
        {
            if (!_reported.Add(address + "\n" + reason))
            {
                return;
            }
        }

        SysfsLog.UnreadableDevice(_logger, address, reason);
    }

    private void ReportFile(string address, string path, string reason)
    {
        lock (_reported)
        {
            if (!_reported.Add(path + "\n" + reason))
            {
                return;
            }
        }

        SysfsLog.UnreadableFile(_logger, address, path, reason);
    }
}
