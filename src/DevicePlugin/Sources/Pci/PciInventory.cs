using DevicePlugin.Sources.Sysfs;
using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> source's state: which PCI functions belong to which resource, their health, and the snapshots
/// built from them. Synchronous and single-threaded (the caller serialises calls): <see cref="Rescan"/> reads the
/// whole bus; <see cref="Poll"/> does a few small reads per known device and rescans only when the bus listing
/// changed or <see cref="PciSourceOptions.RescanInterval"/> has passed.
/// </summary>
internal sealed class PciInventory
{
    private const string VfioDriver = "vfio-pci";

    private readonly PciScanner _scanner;
    private readonly string _devRoot;
    private readonly TimeProvider _time;
    private readonly TimeSpan _rescanInterval;
    private readonly ILogger _logger;
    private readonly FaultLedger _ledger;
    private readonly Dictionary<string, TrackedPciDevice> _devices = new(StringComparer.Ordinal);

    private ImmutableArray<ResourceRequest> _resources = [];
    private TimeSpan _recoverAfter = new HealthConfig().RecoverAfter;
    private bool _omitEmptyResources;
    private (int Count, int Hash)? _listingFingerprint;
    private DateTimeOffset _lastRescan;
    private bool _listingUnreadable;
    private (int Devices, int Functions) _lastScanCounts = (-1, -1);

    private readonly Action<DeviceFault> _faults;

    /// <param name="faults">Receives each fault detected (for the metrics); called before the snapshot that shows it is built.</param>
    public PciInventory(PciSourceOptions options, TimeProvider time, ILogger logger, Action<DeviceFault>? faults = null)
    {
        _faults = faults ?? (static _ => { });
        _scanner = new PciScanner(options.SysfsRoot, logger);
        _devRoot = Path.GetFullPath(options.DevRoot);
        _time = time;
        _rescanInterval = options.RescanInterval;
        _logger = logger;
        _ledger = new FaultLedger(time);
    }

    /// <summary>The resources' devices as built by the last <see cref="Rescan"/> or <see cref="Poll"/>.</summary>
    public ImmutableArray<PublishedResource> Published { get; private set; } = [];

    /// <summary><c>&lt;sysfs-root&gt;/bus/pci/devices</c>.</summary>
    public string Listing => _scanner.Listing;

    /// <summary>Why the PCI device list could not be read at the last rescan; null once a rescan read it.</summary>
    public string? ListingError { get; private set; }

    /// <summary>Rescans that could not read the PCI device list, so far.</summary>
    public long ListingFailures { get; private set; }

    /// <summary>Rescans that read the PCI device list, so far.</summary>
    public long ListingsRead { get; private set; }

    public bool HasResources => !_resources.IsEmpty;

    /// <summary>
    /// Sets the resources (config order) and health settings. Devices are matched again on the next
    /// <see cref="Rescan"/>. With the built-in defaults, a resource without devices is not published.
    /// </summary>
    public void Configure(SourceAssignment assignment)
    {
        _resources = assignment.Resources;
        _recoverAfter = assignment.Health.RecoverAfter;
        _omitEmptyResources = assignment.IsDefault;
        Reassign();
    }

    /// <summary>
    /// Reads every PCI function, matches new ones, re-reads known ones, checks health and rebuilds the snapshots.
    /// Throws IOException or UnauthorizedAccessException when <c>bus/pci/devices</c> cannot be listed.
    /// Returns true when the snapshots changed.
    /// </summary>
    public bool Rescan()
    {
        RescanDevices();
        CheckAllHealth();
        return RebuildSnapshots();
    }

    /// <summary>One health poll; true when the snapshots changed.</summary>
    public bool Poll()
    {
        if (_resources.IsEmpty)
        {
            return false;
        }

        var fingerprint = _scanner.ListingFingerprint();
        if (fingerprint != _listingFingerprint || _time.GetUtcNow() - _lastRescan >= _rescanInterval)
        {
            try
            {
                RescanDevices();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ListingFailures++;
                ListingError = e.Message;
                if (!_listingUnreadable)
                {
                    _listingUnreadable = true;
                    PciLog.ListingUnreadable(_logger, _scanner.Listing, e.Message);
                }

                _listingFingerprint = fingerprint;
            }
        }

        CheckAllHealth();
        return RebuildSnapshots();
    }

    private void RescanDevices()
    {
        // Fingerprint first: a change during the scan then shows at the next poll.
        var fingerprint = _scanner.ListingFingerprint();
        _lastRescan = _time.GetUtcNow();
        var addresses = _scanner.ListAddresses();
        _listingFingerprint = fingerprint;
        ListingsRead++;
        ListingError = null;
        if (_listingUnreadable)
        {
            _listingUnreadable = false;
            PciLog.ListingReadable(_logger, _scanner.Listing);
        }

        foreach (var address in addresses)
        {
            var info = _scanner.Read(
                address, identity => _devices.ContainsKey(address) || Matches(identity, identity.Driver));
            if (info is null || !info.HasDetails)
            {
                continue;
            }

            if (_devices.TryGetValue(address, out var known))
            {
                if (known.Info.Vendor != info.Vendor || known.Info.Device != info.Device || known.Info.Class != info.Class)
                {
                    known.Reset(info);
                }
                else
                {
                    // The driver is compared with the baseline by the health check, which also accepts a new one.
                    known.Info = info;
                    known.Present = true;
                }
            }
            else if (FirstMatch(info.Vendor, info.Device, info.Class, info.Driver) is var index and >= 0)
            {
                var device = new TrackedPciDevice(info, index, _resources[index].Name);
                _devices.Add(address, device);
                if (_logger.IsEnabled(LogLevel.Information))
                {
                    var nodes = string.Join(' ', NodesFor(info));
                    PciLog.DeviceMatched(_logger, address, info.Vendor, info.Device, info.Class, info.Driver ?? "none",
                        _resources[index].Name, nodes);
                }
            }
        }

        Reassign();
        if ((_devices.Count, addresses.Count) != _lastScanCounts)
        {
            _lastScanCounts = (_devices.Count, addresses.Count);
            PciLog.Scanned(_logger, _resources.Length, _devices.Count, addresses.Count);
        }
    }

    /// <summary>
    /// Matches every known device again with the driver it was accepted with (a configuration change may move it
    /// to another resource); a device that matches nothing any more is dropped.
    /// </summary>
    private void Reassign()
    {
        foreach (var device in _devices.Values.ToList())
        {
            var index = FirstMatch(device.Info.Vendor, device.Info.Device, device.Info.Class, device.BaselineDriver);
            if (index < 0)
            {
                PciLog.DeviceDropped(_logger, device.Address, device.Resource);
                _devices.Remove(device.Address);
                _ledger.Forget(device.Address);
            }
            else
            {
                device.ResourceIndex = index;
                device.Resource = _resources[index].Name;
            }
        }
    }

    private void CheckAllHealth()
    {
        var missingShared = new List<string>[_resources.Length];
        for (var i = 0; i < _resources.Length; i++)
        {
            missingShared[i] = [.. _resources[i].ExtraDeviceNodes.Where(node => !DeviceNodeExists(node))];
        }

        foreach (var device in _devices.Values)
        {
            CheckHealth(device, missingShared[device.ResourceIndex]);
        }
    }

    private void CheckHealth(TrackedPciDevice device, List<string> missingSharedNodes)
    {
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        var info = device.Info;
        if (!Directory.Exists(info.Directory))
        {
            device.Present = false;
            conditions[$"device {info.Address} removed from the PCI bus"] = PciFaultKind.Removed;
        }
        else
        {
            if (!device.Present)
            {
                // Back after a hot-plug without a listing change seen in between: read it again.
                if (_scanner.ReadAt(info.Address, info.Directory, info.PciePath) is { } fresh)
                {
                    if (fresh.Vendor != info.Vendor || fresh.Device != info.Device || fresh.Class != info.Class)
                    {
                        device.Reset(fresh);
                    }

                    device.Info = info = fresh;
                }

                device.Present = true;
            }

            CheckDriver(device, conditions);
            CheckAer(device);
            foreach (var node in NodesFor(device.Info))
            {
                if (!DeviceNodeExists(node))
                {
                    conditions[$"device node {node} missing under {_devRoot}"] = PciFaultKind.DeviceNodeMissing;
                }
            }
        }

        foreach (var node in missingSharedNodes)
        {
            conditions[$"shared device node {node} missing under {_devRoot}"] = PciFaultKind.DeviceNodeMissing;
        }

        foreach (var old in device.Conditions.Keys)
        {
            if (!conditions.ContainsKey(old))
            {
                _ledger.ObserveCondition(device.Address, old, holds: false);
            }
        }

        foreach (var (reason, kind) in conditions)
        {
            _ledger.ObserveCondition(device.Address, reason, holds: true);
            if (!device.Conditions.ContainsKey(reason))
            {
                ReportFault(device, reason, kind);
            }
        }

        device.Conditions = conditions;
    }

    private void CheckDriver(TrackedPciDevice device, Dictionary<string, string> conditions)
    {
        var info = device.Info;
        var driver = _scanner.ReadDriver(info.Directory);
        if (driver != info.Driver)
        {
            // A new driver brings other device nodes (vfio-pci, a DRM card): find them again.
            device.Info = info = info with
            {
                Driver = driver,
                CharDeviceNodes = _scanner.FindCharDeviceNodes(info.Address, info.Directory),
            };
        }

        if (driver == device.BaselineDriver)
        {
            return;
        }

        var baseline = device.BaselineDriver ?? "none";
        if (driver is null)
        {
            conditions[$"driver {baseline} unbound"] = PciFaultKind.DriverUnbound;
            return;
        }

        var index = FirstMatch(info.Vendor, info.Device, info.Class, driver);
        if (index < 0)
        {
            // The new driver fits no resource: the device stays where it was, unhealthy while it lasts.
            conditions[$"driver changed from {baseline} to {driver}"] = PciFaultKind.DriverChanged;
            return;
        }

        if (device.BaselineDriver is not null)
        {
            // A rebind is a fault event (the device was reset under its users), even where the device stays usable.
            var reason = $"driver changed from {baseline} to {driver}";
            _ledger.RecordEvent(device.Address, reason);
            ReportFault(device, reason, PciFaultKind.DriverChanged);
        }

        device.BaselineDriver = driver;
        device.ResourceIndex = index;
        device.Resource = _resources[index].Name;
        PciLog.DriverAccepted(_logger, info.Address, driver, _resources[index].Name);
    }

    private void CheckAer(TrackedPciDevice device)
    {
        if (_scanner.ReadAerFatal(device.Info.Directory) is not { } count)
        {
            return;
        }

        if (device.AerBaseline is { } before && count > before)
        {
            var reason = $"fatal AER errors rose from {before} to {count}";
            _ledger.RecordEvent(device.Address, reason);
            ReportFault(device, reason, PciFaultKind.AerFatal);
        }

        device.AerBaseline = count;
    }

    private void ReportFault(TrackedPciDevice device, string reason, string kind)
    {
        var resource = device.Resource;
        PciLog.Fault(_logger, device.Address, resource, reason);
        _faults(new DeviceFault(device.Address, kind, Resource: resource));
    }

    /// <summary>Builds the snapshots from what is known, without reading sysfs; true when they changed.</summary>
    public bool RebuildSnapshots()
    {
        var byResource = new List<TrackedPciDevice>[_resources.Length];
        for (var i = 0; i < byResource.Length; i++)
        {
            byResource[i] = [];
        }

        foreach (var device in _devices.Values)
        {
            byResource[device.ResourceIndex].Add(device);
        }

        var published = ImmutableArray.CreateBuilder<PublishedResource>(_resources.Length);
        for (var i = 0; i < _resources.Length; i++)
        {
            var resource = _resources[i];
            if (byResource[i].Count == 0 && _omitEmptyResources)
            {
                continue;
            }

            byResource[i].Sort(static (a, b) => string.CompareOrdinal(a.Address, b.Address));
            var devices = byResource[i].Select(ToPhysicalDevice).ToImmutableArray();
            var previous = Published.FirstOrDefault(s => s.ResourceName == resource.Name);
            if (previous is not null && previous.Devices.SequenceEqual(devices))
            {
                published.Add(previous);
                continue;
            }

            var labels = PciFeatureLabels.For(resource.Name, devices);
            published.Add(new PublishedResource(resource.Name, devices, PcieTopology.BuildMatrix(devices)) { FeatureLabels = _ => labels });
        }

        var built = published.ToImmutable();
        if (built.Length == Published.Length && built.Zip(Published).All(pair => ReferenceEquals(pair.First, pair.Second)))
        {
            return false;
        }

        Published = built;
        return true;
    }

    private PhysicalDevice ToPhysicalDevice(TrackedPciDevice device)
    {
        var health = _ledger.Evaluate(device.Address, _recoverAfter, out var reason);
        if (health == DeviceHealth.Healthy && device.LastHealth == DeviceHealth.Unhealthy)
        {
            PciLog.Recovered(_logger, device.Address, device.Resource);
        }

        device.LastHealth = health;
        var info = device.Info;
        if (device.Published is { } published && ReferenceEquals(device.PublishedInfo, info)
            && published.Health == health && published.UnhealthyReason == reason
            && ReferenceEquals(published.Environment[0].Key, device.EnvironmentVariable))
        {
            return published;
        }

        var attributes = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        attributes["vendor"] = $"0x{info.Vendor:x4}";
        attributes["device"] = $"0x{info.Device:x4}";
        attributes["class"] = $"0x{info.Class:x6}";
        attributes["driver"] = info.Driver ?? "";
        attributes["model"] = $"{info.Vendor:x4}:{info.Device:x4}";
        AddIfKnown(attributes, "subsystemVendor", info.SubsystemVendor is { } sv ? $"0x{sv:x4}" : null);
        AddIfKnown(attributes, "subsystemDevice", info.SubsystemDevice is { } sd ? $"0x{sd:x4}" : null);
        AddIfKnown(attributes, "iommuGroup", info.IommuGroup);
        AddIfKnown(attributes, "linkSpeed", info.LinkSpeed);
        AddIfKnown(attributes, "linkWidth", info.LinkWidth);
        device.PublishedInfo = info;
        device.Published = new PhysicalDevice
        {
            Id = info.Address,
            Health = health,
            UnhealthyReason = reason,
            NumaNode = info.NumaNode,
            DeviceNodes = NodesFor(info),
            Environment = [new(device.EnvironmentVariable, info.Address)],
            PciAddress = info.Address,
            PciePath = info.PciePath,
            Attributes = attributes.ToImmutable(),
        };
        return device.Published;
    }

    private static void AddIfKnown(ImmutableSortedDictionary<string, string>.Builder attributes, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            attributes[key] = value;
        }
    }

    /// <summary>The host paths a container needs for the function: its character devices, plus VFIO's for vfio-pci.</summary>
    private static ImmutableArray<string> NodesFor(PciFunctionInfo info)
    {
        if (info.Driver != VfioDriver)
        {
            return info.CharDeviceNodes;
        }

        var nodes = new List<string>(info.CharDeviceNodes.Length + 2);
        nodes.AddRange(info.CharDeviceNodes);
        nodes.Add("/dev/vfio/vfio");
        if (info.IommuGroup is { } group)
        {
            nodes.Add("/dev/vfio/" + group);
        }

        return [.. nodes.Distinct(StringComparer.Ordinal)];
    }

    private bool DeviceNodeExists(string hostPath)
    {
        var relative = hostPath.StartsWith("/dev/", StringComparison.Ordinal) ? hostPath["/dev/".Length..] : hostPath.TrimStart('/');
        return File.Exists(Path.Combine(_devRoot, relative));
    }

    private bool Matches(PciFunctionInfo info, string? driver) => FirstMatch(info.Vendor, info.Device, info.Class, driver) >= 0;

    private int FirstMatch(ushort vendor, ushort device, uint classCode, string? driver)
    {
        for (var i = 0; i < _resources.Length; i++)
        {
            foreach (var match in _resources[i].Match)
            {
                if (match.Matches(vendor, device, classCode, driver))
                {
                    return i;
                }
            }
        }

        return -1;
    }
}
