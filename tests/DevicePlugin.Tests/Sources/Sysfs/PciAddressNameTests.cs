using DevicePlugin.Sources.Sysfs;

namespace DevicePlugin.Tests.Sources.Sysfs;

public sealed class PciAddressNameTests
{
    [Theory]
    [InlineData("0000:3b:00.1", true)]
    [InlineData("10000:e0:06.0", true)]
    [InlineData("0000:3b:00.8", false)]
    [InlineData("0000:3B:00.1", false)]
    [InlineData("pci0000:00", false)]
    [InlineData("000:3b:00.1", false)]
    [InlineData("0000:3b:00.10", false)]
    [InlineData("0000-3b:00.1", false)]
    [InlineData("subsystem", false)]
    [InlineData("", false)]
    public void RecognisesSysfsFunctionNames(string name, bool expected) =>
        Assert.Equal(expected, PciAddressName.IsPciAddress(name));

    [Theory]
    [InlineData("00000000:3B:00.0", "0000:3b:00.0")]
    [InlineData(" 0000:3b:00.0\n", "0000:3b:00.0")]
    [InlineData("00010000:E0:06.0", "10000:e0:06.0")]
    [InlineData("GPU-0c5c4d3a", null)]
    [InlineData("0000:3b:00", null)]
    public void NormalisesNvmlAddresses(string input, string? expected) =>
        Assert.Equal(expected, PciAddressName.Normalize(input));
}
