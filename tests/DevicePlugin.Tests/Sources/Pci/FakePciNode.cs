using System.Diagnostics;
using System.Globalization;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>A host bridge or PCI function in a <see cref="FakeSysfs"/>; children are created below it.</summary>
public sealed class FakePciNode
{
    private readonly FakeSysfs _sys;

    internal FakePciNode(FakeSysfs sys, string path, string name)
    {
        _sys = sys;
        Path = path;
        Name = name;
    }

    public string Path { get; private set; }

    /// <summary>The directory name: the PCI address, or <c>pciDDDD:BB</c> for a host bridge.</summary>
    public string Name { get; }

    private string ListingLink => System.IO.Path.Combine(_sys.ListingDirectory, Name);

    private string UnpluggedPath => System.IO.Path.Combine(_sys.BaseDirectory, "unplugged", Name);

    /// <summary>A PCIe port (root port or switch port): class 0x060400, driver pcieport.</summary>
    public FakePciNode Bridge(string address, int numa = -1) =>
        Function(address, 0x8086, 0x2030, 0x060400, driver: "pcieport", numa: numa, aerFatal: null);

    /// <summary>A PCI function below this node, listed in bus/pci/devices.</summary>
    public FakePciNode Function(
        string address, ushort vendor, ushort device, uint classCode, string? driver = null, int numa = -1,
        int? iommuGroup = null, long? aerFatal = 0, ushort subsystemVendor = 0x1234, ushort subsystemDevice = 0x5678,
        string linkSpeed = "16.0 GT/s PCIe", int linkWidth = 16)
    {
        var dir = System.IO.Path.Combine(Path, address);
        Directory.CreateDirectory(dir);
        var node = new FakePciNode(_sys, dir, address);
        node.Write("vendor", $"0x{vendor:x4}\n")
            .Write("device", $"0x{device:x4}\n")
            .Write("class", $"0x{classCode:x6}\n")
            .Write("subsystem_vendor", $"0x{subsystemVendor:x4}\n")
            .Write("subsystem_device", $"0x{subsystemDevice:x4}\n")
            .Write("numa_node", numa.ToString(CultureInfo.InvariantCulture) + "\n")
            .Write("local_cpulist", "0-15\n")
            .Write("current_link_speed", linkSpeed + "\n")
            .Write("current_link_width", linkWidth.ToString(CultureInfo.InvariantCulture) + "\n")
            .Write("uevent", $"DRIVER={driver}\nPCI_CLASS={classCode:X}\nPCI_ID={vendor:X4}:{device:X4}\nPCI_SLOT_NAME={address}\n")
            .Write("config", "\u0086\u0080");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "power"));
        File.WriteAllText(System.IO.Path.Combine(dir, "power", "control"), "on\n");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "msi_irqs"));
        FakeSysfs.RelativeLink(System.IO.Path.Combine(dir, "subsystem"), System.IO.Path.Combine(_sys.SysRoot, "bus", "pci"));
        if (aerFatal is { } fatal)
        {
            node.AerFatal(fatal);
            node.Write("aer_dev_nonfatal", "Undefined 0\nDLP 0\nTOTAL_ERR_NONFATAL 3\n");
            node.Write("aer_dev_correctable", "RxErr 0\nBadTLP 0\nTOTAL_ERR_COR 7\n");
        }

        if (iommuGroup is { } group)
        {
            var groupDir = System.IO.Path.Combine(_sys.SysRoot, "kernel", "iommu_groups", group.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(System.IO.Path.Combine(groupDir, "devices"));
            FakeSysfs.RelativeLink(System.IO.Path.Combine(groupDir, "devices", address), dir);
            FakeSysfs.RelativeLink(System.IO.Path.Combine(dir, "iommu_group"), groupDir);
        }

        node.BindDriver(driver);
        FakeSysfs.RelativeLink(node.ListingLink, dir);
        return node;
    }

    /// <summary>
    /// A character device below this function (for example relativeDir "drm/renderD128", devName
    /// "dri/renderD128"), and its node under the dev root unless <paramref name="createNode"/> is false.
    /// </summary>
    public FakePciNode CharDevice(string relativeDir, string devName, int major = 226, int minor = 128,
        string subsystem = "drm", bool createNode = true)
    {
        var dir = System.IO.Path.Combine(Path, relativeDir);
        Directory.CreateDirectory(dir);
        File.WriteAllText(System.IO.Path.Combine(dir, "dev"), $"{major}:{minor}\n");
        File.WriteAllText(System.IO.Path.Combine(dir, "uevent"), $"MAJOR={major}\nMINOR={minor}\nDEVNAME={devName}\n");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "power"));
        var classDir = System.IO.Path.Combine(_sys.SysRoot, "class", subsystem);
        Directory.CreateDirectory(classDir);
        FakeSysfs.RelativeLink(System.IO.Path.Combine(dir, "subsystem"), classDir);
        FakeSysfs.RelativeLink(System.IO.Path.Combine(dir, "device"), Path);
        if (createNode)
        {
            _sys.DeviceNode(devName);
        }

        return this;
    }

    /// <summary>A child directory that is not a device (no <c>dev</c> file), e.g. "net/eth0" or "hwmon/hwmon3".</summary>
    public FakePciNode PlainChild(string relativeDir, string ueventText = "")
    {
        var dir = System.IO.Path.Combine(Path, relativeDir);
        Directory.CreateDirectory(dir);
        File.WriteAllText(System.IO.Path.Combine(dir, "uevent"), ueventText);
        return this;
    }

    /// <summary>Binds the function to a driver (links both ways, like the kernel), or unbinds it when null.</summary>
    public FakePciNode BindDriver(string? driver)
    {
        var link = System.IO.Path.Combine(Path, "driver");
        if (new FileInfo(link).LinkTarget is { } old)
        {
            var oldDriverDir = System.IO.Path.GetFullPath(System.IO.Path.Combine(Path, old));
            File.Delete(System.IO.Path.Combine(oldDriverDir, Name));
            File.Delete(link);
        }

        if (driver is not null)
        {
            var driverDir = System.IO.Path.Combine(_sys.SysRoot, "bus", "pci", "drivers", driver);
            Directory.CreateDirectory(driverDir);
            FakeSysfs.RelativeLink(System.IO.Path.Combine(driverDir, Name), Path);
            FakeSysfs.RelativeLink(link, driverDir);
        }

        return this;
    }

    public FakePciNode AerFatal(long total) =>
        Write("aer_dev_fatal", $"Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nTOTAL_ERR_FATAL {total}\n");

    public FakePciNode Write(string file, string text)
    {
        File.WriteAllText(System.IO.Path.Combine(Path, file), text);
        return this;
    }

    /// <summary>Replaces an attribute by a directory of the same name (unreadable as a file, even for root).</summary>
    public FakePciNode ReplaceWithDirectory(string file)
    {
        var path = System.IO.Path.Combine(Path, file);
        File.Delete(path);
        Directory.CreateDirectory(path);
        return this;
    }

    /// <summary>Replaces an attribute by a link to nowhere.</summary>
    public FakePciNode ReplaceWithDanglingLink(string file)
    {
        var path = System.IO.Path.Combine(Path, file);
        File.Delete(path);
        File.CreateSymbolicLink(path, "does-not-exist");
        return this;
    }

    /// <summary>Replaces an attribute by a FIFO with no writer: a blocking open would hang the reader.</summary>
    public FakePciNode ReplaceWithFifo(string file)
    {
        var path = System.IO.Path.Combine(Path, file);
        File.Delete(path);
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        if (mkfifo.ExitCode != 0)
        {
            throw new InvalidOperationException($"mkfifo {path} failed");
        }

        return this;
    }

    /// <summary>Hot-unplug: the listing link goes and the directory (with everything below) leaves the tree.</summary>
    public void Unplug()
    {
        File.Delete(ListingLink);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(UnpluggedPath)!);
        Directory.Move(Path, UnpluggedPath);
    }

    /// <summary>Hot-plug of the same device back into the same slot.</summary>
    public void Replug()
    {
        Directory.Move(UnpluggedPath, Path);
        FakeSysfs.RelativeLink(ListingLink, Path);
    }
}
