namespace DevicePlugin.Sources.Pci;

/// <summary>A <c>match:</c> selector of a <c>pci</c> resource.</summary>
public sealed record PciMatch
{
    public required ushort Vendor { get; init; }

    public ushort? Device { get; init; }

    /// <summary>Base class and subclass: the top 16 bits of the sysfs <c>class</c> value.</summary>
    public ushort? Class { get; init; }

    public string? Driver { get; init; }

    public bool Matches(ushort vendor, ushort device, uint classCode, string? driver) =>
        vendor == Vendor
        && (Device is not { } d || d == device)
        && (Class is not { } c || c == (ushort)(classCode >> 8))
        && (Driver is not { } drv || drv == driver);
}
