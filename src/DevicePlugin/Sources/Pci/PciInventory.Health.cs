using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Sysfs;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> health checks, run on every poll for each tracked device: its sysfs directory gone, its driver
/// unbound or changed, its fatal AER count rising, one of its device nodes (or of the resource's extra nodes) missing
/// under <c>--dev-root</c>. Each fault is logged and reported once when it appears, and recorded in the ledger that
/// decides recovery.
/// </summary>
internal sealed partial class PciInventory
{
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

    private bool DeviceNodeExists(string hostPath)
    {
        var relative = hostPath.StartsWith("/dev/", StringComparison.Ordinal) ? hostPath["/dev/".Length..] : hostPath.TrimStart('/');
        return File.Exists(Path.Combine(_devRoot, relative));
    }
}
