namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>
/// A two-socket server in a <see cref="FakeSysfs"/>: four AMD GPUs (two behind one PCIe switch, one on another
/// root port, one on the other socket), an Intel DFL FPGA, an Alveo card (management and user functions), a NIC
/// bound to vfio-pci, and noise that no default may pick up (a NIC, an NVMe drive, the BMC's VGA).
/// </summary>
public sealed class PciReferenceNode : IDisposable
{
    public const string GpuA = "0000:03:00.0";
    public const string GpuB = "0000:04:00.0";
    public const string GpuC = "0000:09:00.0";
    public const string GpuRemote = "0000:82:00.0";
    public const string IntelFpga = "0000:41:00.0";
    public const string AlveoMgmt = "0000:81:00.0";
    public const string AlveoUser = "0000:81:00.1";
    public const string VfioNic = "0000:83:00.0";
    public const string Nic = "0000:05:00.0";
    public const string Nvme = "0000:06:00.0";
    public const string BmcVga = "0000:08:00.0";

    public PciReferenceNode()
    {
        Sys = new FakeSysfs();
        Sys.DeviceNode("kfd");

        var socket0 = Sys.RootComplex("0000:00");
        var switchUp = socket0.Bridge("0000:00:01.0", numa: 0).Bridge("0000:01:00.0", numa: 0);
        GpuANode = switchUp.Bridge("0000:02:00.0", numa: 0)
            .Function(GpuA, 0x1002, 0x740f, 0x038000, "amdgpu", numa: 0, iommuGroup: 10)
            .CharDevice("drm/card1", "dri/card1", 226, 1)
            .CharDevice("drm/renderD128", "dri/renderD128", 226, 128)
            .PlainChild("drm/card1/card1-DP-1")
            .PlainChild("hwmon/hwmon3");
        GpuBNode = switchUp.Bridge("0000:02:01.0", numa: 0)
            .Function(GpuB, 0x1002, 0x740f, 0x038000, "amdgpu", numa: 0, iommuGroup: 11)
            .CharDevice("drm/card2", "dri/card2", 226, 2)
            .CharDevice("drm/renderD129", "dri/renderD129", 226, 129);

        var nicPort = socket0.Bridge("0000:00:02.0", numa: 0);
        NicNode = nicPort.Function(Nic, 0x8086, 0x1572, 0x020000, "i40e", numa: 0, iommuGroup: 20).PlainChild("net/eth0", "INTERFACE=eth0\n");
        nicPort.Function("0000:05:00.1", 0x8086, 0x1572, 0x020000, "i40e", numa: 0, iommuGroup: 20).PlainChild("net/eth1", "INTERFACE=eth1\n");

        socket0.Bridge("0000:00:03.0", numa: 0)
            .Function(Nvme, 0x144d, 0xa808, 0x010802, "nvme", numa: 0, iommuGroup: 21)
            .CharDevice("nvme/nvme0", "nvme0", 240, 0, subsystem: "nvme")
            .CharDevice("nvme/nvme0/nvme0n1", "nvme0n1", 259, 0, subsystem: "block");

        socket0.Bridge("0000:00:1c.0", numa: 0)
            .Function("0000:07:00.0", 0x1a03, 0x1150, 0x060400, "pcieport", numa: 0, aerFatal: null)
            .Function(BmcVga, 0x1a03, 0x2000, 0x030000, "ast", numa: 0, iommuGroup: 22, aerFatal: null)
            .CharDevice("drm/card0", "dri/card0", 226, 0);

        GpuCNode = socket0.Bridge("0000:00:04.0", numa: 0)
            .Function(GpuC, 0x1002, 0x73bf, 0x030000, "amdgpu", numa: 0, iommuGroup: 12)
            .CharDevice("drm/card3", "dri/card3", 226, 3)
            .CharDevice("drm/renderD130", "dri/renderD130", 226, 130);

        IntelFpgaNode = Sys.RootComplex("0000:40").Bridge("0000:40:01.0", numa: 0)
            .Function(IntelFpga, 0x8086, 0x0b30, 0x120000, "dfl-pci", numa: 0, iommuGroup: 30)
            .CharDevice("fpga_region/region0/dfl-fme.0", "dfl-fme.0", 510, 0, subsystem: "dfl-fme")
            .CharDevice("fpga_region/region0/dfl-port.0", "dfl-port.0", 509, 0, subsystem: "dfl-port")
            .PlainChild("fpga_region/region0/dfl-fme.0/dfl-fme-region.0");

        var socket1 = Sys.RootComplex("0000:80");
        var alveoPort = socket1.Bridge("0000:80:01.0", numa: 1);
        alveoPort.Function(AlveoMgmt, 0x10ee, 0x5004, 0x058000, "xclmgmt", numa: 1, iommuGroup: 40)
            .CharDevice("xclmgmt.u.33024/xclmgmt/xclmgmt33024", "xclmgmt33024", 236, 0, subsystem: "xrt_mgmt");
        AlveoUserNode = alveoPort.Function(AlveoUser, 0x10ee, 0x5005, 0x058000, "xocl", numa: 1, iommuGroup: 41)
            .CharDevice("drm/renderD131", "dri/renderD131", 226, 131);

        GpuRemoteNode = socket1.Bridge("0000:80:02.0", numa: 1)
            .Function(GpuRemote, 0x1002, 0x740f, 0x038000, "amdgpu", numa: 1, iommuGroup: 13)
            .CharDevice("drm/card4", "dri/card4", 226, 4)
            .CharDevice("drm/renderD132", "dri/renderD132", 226, 132);

        VfioNicNode = socket1.Bridge("0000:80:03.0", numa: 1)
            .Function(VfioNic, 0x15b3, 0x101d, 0x020000, "vfio-pci", numa: 1, iommuGroup: 42);
        Sys.DeviceNode("vfio/vfio").DeviceNode("vfio/42");
    }

    public FakeSysfs Sys { get; }

    public FakePciNode GpuANode { get; }

    public FakePciNode GpuBNode { get; }

    public FakePciNode GpuCNode { get; }

    public FakePciNode GpuRemoteNode { get; }

    public FakePciNode IntelFpgaNode { get; }

    public FakePciNode AlveoUserNode { get; }

    public FakePciNode VfioNicNode { get; }

    public FakePciNode NicNode { get; }

    public void Dispose() => Sys.Dispose();
}
