namespace DevicePlugin.Sources.Pci;

/// <summary>Settings of the <c>pci</c> source (from <c>--sysfs-root</c> and <c>--dev-root</c>; intervals are tunables).</summary>
public sealed record PciSourceOptions
{
    /// <summary>Where sysfs is read (<c>--sysfs-root</c>).</summary>
    public string SysfsRoot { get; init; } = HostPathDefaults.SysfsRoot;

    /// <summary>Where device nodes are looked for (<c>--dev-root</c>); nodes are still handed out as host paths under /dev.</summary>
    public string DevRoot { get; init; } = HostPathDefaults.DevRoot;

    /// <summary>How often the known devices' health is checked (a few small reads per device).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often the whole PCI bus is scanned again for new devices (also done at once when the listing changes).</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(5);
}
