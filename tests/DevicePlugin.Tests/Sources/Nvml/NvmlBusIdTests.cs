using DevicePlugin.Sources.Sysfs;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>NVML's bus IDs go through the same normaliser as every PCI address.</summary>
public sealed class NvmlBusIdTests
{
    [Theory]
    [InlineData("00000000:3B:00.0", "0000:3b:00.0")]
    [InlineData("0000:3B:00.1", "0000:3b:00.1")]
    [InlineData("00000001:AF:1F.7", "0001:af:1f.7")]
    [InlineData("00010000:01:00.0", "10000:01:00.0")]
    [InlineData(" 00000000:18:00.0 ", "0000:18:00.0")]
    public void Nvml_bus_ids_become_sysfs_addresses(string busId, string expected)
    {
        var address = PciAddressName.Normalize(busId);
        Assert.NotNull(address);
        Assert.Equal(expected, address);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3B:00.0")]
    [InlineData("0000:3B:00")]
    [InlineData("0000:3B:00.8")]
    [InlineData("0000:3B:20.0")]
    [InlineData("0000:3G:00.0")]
    [InlineData("0000:3B0:00.0")]
    [InlineData("zz:3B:00.0")]
    public void Malformed_bus_ids_are_refused(string busId)
    {
        Assert.Null(PciAddressName.Normalize(busId));
    }
}
