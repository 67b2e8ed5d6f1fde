using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> resources a node gets without <c>--config</c> (documented in docs/pci.md). Each selector names
/// the bound driver, so that a device is only offered while the driver that gives it its device nodes owns it.
/// </summary>
public static class PciDefaults
{
    public const string AmdGpu = "amd.com/gpu";
    public const string XilinxFpgaUser = "xilinx.com/fpga-user";
    public const string IntelFpga = "intel.com/fpga";

    private const ushort AmdVendor = 0x1002;
    private const ushort XilinxVendor = 0x10ee;
    private const ushort IntelVendor = 0x8086;
    private const ushort AlteraVendor = 0x1172;

    private static PciSettings Match(ImmutableArray<PciMatch> match) => new() { Match = match };

    public static ImmutableArray<ResourceConfig> Resources { get; } =
    [
        new ResourceConfig
        {
            Name = AmdGpu,
            Source = PciSchema.Kind,
            Settings = Match(
            [
                new PciMatch { Vendor = AmdVendor, Class = 0x0300, Driver = "amdgpu" },
                new PciMatch { Vendor = AmdVendor, Class = 0x0380, Driver = "amdgpu" },
                new PciMatch { Vendor = AmdVendor, Class = 0x1200, Driver = "amdgpu" },
            ]),
            ExtraDeviceNodes = ["/dev/kfd"],
        },
        new ResourceConfig
        {
            Name = XilinxFpgaUser,
            Source = PciSchema.Kind,
            Settings = Match([new PciMatch { Vendor = XilinxVendor, Driver = "xocl" }]),
        },
        new ResourceConfig
        {
            Name = IntelFpga,
            Source = PciSchema.Kind,
            Settings = Match(
            [
                new PciMatch { Vendor = IntelVendor, Driver = "dfl-pci" },
                new PciMatch { Vendor = AlteraVendor, Driver = "dfl-pci" },
            ]),
        },
    ];
}
