using System.Collections.Immutable;
using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Sysfs;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> source's state: which PCI functions belong to which resource, their health, and the devices
/// built from them. Synchronous and single-threaded (the caller serialises calls): <see cref="Rescan"/> reads the
/// whole bus; <see cref="Poll"/> does a few small reads per known device and rescans only when the bus listing
/// changed or <see cref="PciSourceOptions.RescanInterval"/> has passed.
/// </summary>
internal sealed partial class PciInventory
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

    /// <param name="faults">Receives each fault detected (for the metrics); called before the devices that show it are built.</param>
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
    /// Reads every PCI function, matches new ones, re-reads known ones, checks health and rebuilds what is published.
    /// Throws IOException or UnauthorizedAccessException when <c>bus/pci/devices</c> cannot be listed.
    /// Returns true when what is published changed.
    /// </summary>
    public bool Rescan()
    {
        RescanDevices();
        CheckAllHealth();
        return RebuildPublished();
    }

    /// <summary>One health poll; true when what is published changed.</summary>
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
                ListingError = OsErrorText.Of(e);
                if (!_listingUnreadable)
                {
                    _listingUnreadable = true;
                    PciLog.ListingUnreadable(_logger, _scanner.Listing, ListingError);
                }

                _listingFingerprint = fingerprint;
            }
        }

        CheckAllHealth();
        return RebuildPublished();
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

    private bool Matches(PciFunctionInfo info, string? driver) => FirstMatch(info.Vendor, info.Device, info.Class, driver) >= 0;

    private int FirstMatch(ushort vendor, ushort device, uint classCode, string? driver)
    {
        for (var i = 0; i < _resources.Length; i++)
        {
            foreach (var match in _resources[i].SettingsAs<PciSettings>().Match)
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
