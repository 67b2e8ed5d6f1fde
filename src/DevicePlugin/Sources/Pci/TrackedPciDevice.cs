using DevicePlugin.Sources.Sysfs;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// A PCI function that belongs to a resource, with what the health checks remember between polls.
/// Mutable; only <see cref="PciInventory"/> touches it, under the source's lock.
/// </summary>
internal sealed class TrackedPciDevice(PciFunctionInfo info, int resourceIndex, string resource)
{
    /// <summary>The latest read of the function (kept as last seen while the device is gone).</summary>
    public PciFunctionInfo Info { get; set; } = info;

    /// <summary>Index into the configured resources.</summary>
    public int ResourceIndex { get; set; } = resourceIndex;

    /// <summary>Name of the resource at <see cref="ResourceIndex"/> when it was assigned.</summary>
    public string Resource
    {
        get;
        set
        {
            field = value;
            EnvironmentVariable = PciEnvironment.VariableFor(value);
        }
    } = resource;

    /// <summary>The variable a container gets this device's address in: <c>PCI_RESOURCE_&lt;resource&gt;</c>.</summary>
    public string EnvironmentVariable { get; private set; } = PciEnvironment.VariableFor(resource);

    /// <summary>The driver the device was matched with; another driver (or none) is a fault.</summary>
    public string? BaselineDriver { get; set; } = info.Driver;

    /// <summary>The fatal AER count at the last poll; a rise is a fault.</summary>
    public long? AerBaseline { get; set; } = info.AerFatalCount;

    /// <summary>Whether the device's directory existed at the last poll.</summary>
    public bool Present { get; set; } = true;

    /// <summary>Fault conditions that held at the last poll: reason text → <see cref="PciFaultKind"/>.</summary>
    public Dictionary<string, string> Conditions { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Health when last published (to log recoveries once).</summary>
    public DeviceHealth LastHealth { get; set; } = DeviceHealth.Healthy;

    /// <summary>The device as last published, reused while neither <see cref="PublishedInfo"/> nor its health changed.</summary>
    public PhysicalDevice? Published { get; set; }

    /// <summary>The <see cref="Info"/> that <see cref="Published"/> was built from.</summary>
    public PciFunctionInfo? PublishedInfo { get; set; }

    public string Address => Info.Address;

    /// <summary>Starts over after another card took the slot (vendor, device or class changed).</summary>
    public void Reset(PciFunctionInfo fresh)
    {
        Info = fresh;
        BaselineDriver = fresh.Driver;
        AerBaseline = fresh.AerFatalCount;
        Present = true;
    }
}
