using DevicePlugin.Inventory;
using DevicePlugin.Sources.Sysfs;
using DevicePlugin.Tests.Sources.Pci;
using static DevicePlugin.Tests.Sources.Pci.PciReferenceNode;

namespace DevicePlugin.Tests.Sources.Sysfs;

public sealed class PcieTopologyTests
{
    private static readonly string[] BehindSwitchPortA = ["pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:02:00.0"];
    private static readonly string[] BehindSwitchPortB = ["pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:02:01.0"];
    private static readonly string[] BehindNestedSwitch =
        ["pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:02:02.0", "0000:03:00.0", "0000:04:00.0"];
    private static readonly string[] OtherRootPort = ["pci0000:00", "0000:00:04.0"];
    private static readonly string[] OtherRootComplex = ["pci0000:40", "0000:40:01.0"];

    [Fact]
    public void TwoFunctionsOfOneBoardShareTheirParentPort() =>
        Assert.Equal(InterconnectLevel.SingleSwitch, PcieTopology.Level(OtherRootPort, 0, OtherRootPort, 0));

    [Fact]
    public void DownstreamPortsOfOneSwitchAreOneSwitchApart() =>
        Assert.Equal(InterconnectLevel.SingleSwitch, PcieTopology.Level(BehindSwitchPortA, 0, BehindSwitchPortB, 0));

    [Fact]
    public void ASecondSwitchLevelBetweenThemIsMultipleSwitches()
    {
        Assert.Equal(InterconnectLevel.MultipleSwitches, PcieTopology.Level(BehindSwitchPortA, 0, BehindNestedSwitch, 0));
        Assert.Equal(InterconnectLevel.MultipleSwitches, PcieTopology.Level(BehindNestedSwitch, 0, BehindSwitchPortB, 0));
    }

    [Fact]
    public void OnlyTheHostBridgeSharedIsSameRootComplex()
    {
        Assert.Equal(InterconnectLevel.SameRootComplex, PcieTopology.Level(BehindSwitchPortA, 0, OtherRootPort, 0));
        Assert.Equal(InterconnectLevel.SameRootComplex, PcieTopology.Level(["pci0000:00"], 0, ["pci0000:00"], 0));
    }

    [Fact]
    public void DifferentRootComplexesFallBackToNuma()
    {
        Assert.Equal(InterconnectLevel.SameNumaNode, PcieTopology.Level(BehindSwitchPortA, 0, OtherRootComplex, 0));
        Assert.Equal(InterconnectLevel.CrossSocket, PcieTopology.Level(BehindSwitchPortA, 0, OtherRootComplex, 1));
        Assert.Equal(InterconnectLevel.CrossSocket, PcieTopology.Level(BehindSwitchPortA, null, OtherRootComplex, null));
        Assert.Equal(InterconnectLevel.CrossSocket, PcieTopology.Level([], 0, [], 1));
        Assert.Equal(InterconnectLevel.SameNumaNode, PcieTopology.Level([], 0, [], 0));
    }

    [Fact]
    public void MatrixIsSymmetricWithZeroOnTheDiagonal()
    {
        PhysicalDevice[] devices =
        [
            new() { Id = "a", NumaNode = 0, PciePath = [.. BehindSwitchPortA] },
            new() { Id = "b", NumaNode = 0, PciePath = [.. BehindSwitchPortB] },
            new() { Id = "c", NumaNode = 0, PciePath = [.. OtherRootComplex] },
        ];

        var matrix = PcieTopology.BuildMatrix(devices);

        Assert.Equal(InterconnectLevel.SingleSwitch, matrix.Level(1, 0));
        Assert.Equal(InterconnectLevel.SameNumaNode, matrix.Level(2, 0));
        Assert.Equal(matrix.Score(0, 2), matrix.Score(2, 0));
        Assert.Equal(0, matrix.Score(1, 1));
    }

    [Fact]
    public void PlacementIsReadFromSysfsForAnNvmlStyleAddress()
    {
        using var node = new PciReferenceNode();

        Assert.True(PcieTopology.TryReadPlacement(node.Sys.SysRoot, "00000000:82:00.0", out var numa, out var path));
        Assert.Equal(1, numa);
        Assert.Equal(["pci0000:80", "0000:80:02.0"], path.ToArray());

        Assert.True(PcieTopology.TryReadPlacement(node.Sys.SysRoot, GpuA.ToUpperInvariant(), out numa, out path));
        Assert.Equal(0, numa);
        Assert.Equal(4, path.Length);
    }

    [Fact]
    public void PlacementOfAnUnknownOrMalformedAddressIsNotFound()
    {
        using var node = new PciReferenceNode();

        Assert.False(PcieTopology.TryReadPlacement(node.Sys.SysRoot, "0000:ee:00.0", out _, out _));
        Assert.False(PcieTopology.TryReadPlacement(node.Sys.SysRoot, "GPU-1234", out _, out _));
    }

    [Fact]
    public void UnknownNumaNodeIsNull()
    {
        using var sys = new FakeSysfs();
        sys.RootComplex("0000:00").Function("0000:00:02.0", 0x8086, 0x56c0, 0x030000, "i915", numa: -1);

        Assert.True(PcieTopology.TryReadPlacement(sys.SysRoot, "0000:00:02.0", out var numa, out var path));
        Assert.Null(numa);
        Assert.Equal(["pci0000:00"], path.ToArray());
    }
}
