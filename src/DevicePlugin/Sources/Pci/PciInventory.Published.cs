using System.Collections.Immutable;
using DevicePlugin.Health;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Sysfs;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// What the <c>pci</c> source publishes: each resource's devices, sorted by address, with their container edits
/// (the device nodes found below the function, <c>/dev/vfio/*</c> for <c>vfio-pci</c>, and <c>PCI_RESOURCE_&lt;NAME&gt;</c>),
/// topology and feature labels. An unchanged device or resource keeps its object, so an unchanged bus publishes nothing.
/// </summary>
internal sealed partial class PciInventory
{
    /// <summary>Builds the published resources from what is known, without reading sysfs; true when they changed.</summary>
    public bool RebuildPublished()
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
}
