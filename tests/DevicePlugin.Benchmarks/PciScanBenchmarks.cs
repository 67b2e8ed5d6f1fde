using System.Collections.Immutable;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Pci;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevicePlugin.Benchmarks;

/// <summary>
/// The pci source's costs on a generated sysfs tree: a full scan of 2,000 PCI functions (every attribute read,
/// every device subtree walked) and one health poll of 64 matched devices (listing fingerprint, directory check,
/// driver link, AER counter and device-node checks per device).
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet derives from benchmark classes.</remarks>
[MemoryDiagnoser]
public class PciScanBenchmarks
{
    private const int RootPorts = 250;
    private const int FunctionsPerEndpoint = 7;
    private const int MatchedDevices = 64;
    private const ushort GpuVendor = 0x1002;

    private string _base = "";
    private PciInventory _scanInventory = null!;
    private PciInventory _pollInventory = null!;

    [GlobalSetup]
    public void Setup()
    {
        var tmp = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        _base = Directory.CreateDirectory(Path.Combine(tmp, $"pci-bench-{Guid.NewGuid():N}")).FullName;
        var sys = Path.Combine(_base, "sys");
        var dev = Path.Combine(_base, "dev");
        var functions = GenerateTree(sys, dev);
        if (functions != RootPorts * (1 + FunctionsPerEndpoint))
        {
            throw new InvalidOperationException($"generated {functions} functions");
        }

        ImmutableArray<ResourceConfig> resources =
        [
            new ResourceConfig
            {
                Name = "bench.example.com/gpu",
                Source = PciSchema.Kind,
                Settings = new PciSettings { Match = [new PciMatch { Vendor = GpuVendor, Driver = "amdgpu" }] },
            },
        ];
        var config = new PluginConfig { Resources = resources };
        var options = new PciSourceOptions { SysfsRoot = sys, DevRoot = dev, RescanInterval = TimeSpan.FromDays(1) };

        _scanInventory = new PciInventory(options, TimeProvider.System, NullLogger.Instance);
        _scanInventory.Configure(SourceAssignment.For(PciSchema.Kind, config));
        _pollInventory = new PciInventory(options, TimeProvider.System, NullLogger.Instance);
        _pollInventory.Configure(SourceAssignment.For(PciSchema.Kind, config));
        _pollInventory.Rescan();
        var matched = _pollInventory.Published[0].Devices.Length;
        if (matched != MatchedDevices)
        {
            throw new InvalidOperationException($"expected {MatchedDevices} matched devices, found {matched}");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_base, recursive: true);

    /// <summary>Full scan: list, resolve and read all 2,000 functions, match, check health, build the snapshot.</summary>
    [Benchmark]
    public bool FullScanOf2000Functions() => _scanInventory.Rescan();

    /// <summary>One health poll of the 64 matched devices (no rescan due).</summary>
    [Benchmark]
    public bool HealthPollOf64Devices() => _pollInventory.Poll();

    /// <summary>
    /// 250 root ports, each with a multi-function endpoint of 7 functions: 2,000 listed functions. The first 64
    /// endpoints' function 0 is a GPU (vendor 0x1002, driver amdgpu) with two DRM character devices.
    /// </summary>
    private static int GenerateTree(string sys, string dev)
    {
        var listing = Path.Combine(sys, "bus", "pci", "devices");
        Directory.CreateDirectory(listing);
        Directory.CreateDirectory(Path.Combine(sys, "bus", "pci", "drivers", "amdgpu"));
        Directory.CreateDirectory(Path.Combine(sys, "bus", "pci", "drivers", "pcieport"));
        Directory.CreateDirectory(Path.Combine(sys, "bus", "pci", "drivers", "i40e"));
        Directory.CreateDirectory(Path.Combine(sys, "class", "drm"));
        Directory.CreateDirectory(Path.Combine(dev, "dri"));
        var count = 0;
        var gpus = 0;
        for (var port = 0; port < RootPorts; port++)
        {
            var domain = port / 32;
            var rootComplex = Path.Combine(sys, "devices", $"pci{domain:x4}:00");
            var portAddress = $"{domain:x4}:00:{port % 32:x2}.0";
            var portDir = Path.Combine(rootComplex, portAddress);
            WriteFunction(sys, listing, portDir, portAddress, 0x8086, 0x2030, 0x060400, "pcieport", domain % 2);
            count++;
            for (var f = 0; f < FunctionsPerEndpoint; f++)
            {
                var address = $"{domain:x4}:{(port % 32) + 1:x2}:00.{f}";
                var dir = Path.Combine(portDir, address);
                var isGpu = f == 0 && gpus < MatchedDevices;
                WriteFunction(sys, listing, dir, address, isGpu ? GpuVendor : (ushort)0x8086, 0x1572,
                    isGpu ? 0x038000u : 0x020000u, isGpu ? "amdgpu" : "i40e", domain % 2);
                if (isGpu)
                {
                    WriteCharDevice(sys, dev, Path.Combine(dir, "drm", $"card{gpus}"), $"dri/card{gpus}", 226, gpus);
                    WriteCharDevice(sys, dev, Path.Combine(dir, "drm", $"renderD{128 + gpus}"), $"dri/renderD{128 + gpus}", 226, 128 + gpus);
                    gpus++;
                }
                else
                {
                    Directory.CreateDirectory(Path.Combine(dir, "net", $"eth{count}"));
                }

                count++;
            }
        }

        return count;
    }

    private static void WriteFunction(string sys, string listing, string dir, string address, ushort vendor, ushort device,
        uint classCode, string driver, int numa)
    {
        Directory.CreateDirectory(Path.Combine(dir, "power"));
        File.WriteAllText(Path.Combine(dir, "vendor"), $"0x{vendor:x4}\n");
        File.WriteAllText(Path.Combine(dir, "device"), $"0x{device:x4}\n");
        File.WriteAllText(Path.Combine(dir, "class"), $"0x{classCode:x6}\n");
        File.WriteAllText(Path.Combine(dir, "subsystem_vendor"), "0x1234\n");
        File.WriteAllText(Path.Combine(dir, "subsystem_device"), "0x5678\n");
        File.WriteAllText(Path.Combine(dir, "numa_node"), numa.ToString(CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(dir, "current_link_speed"), "16.0 GT/s PCIe\n");
        File.WriteAllText(Path.Combine(dir, "current_link_width"), "16\n");
        File.WriteAllText(Path.Combine(dir, "aer_dev_fatal"), "Undefined 0\nDLP 0\nTOTAL_ERR_FATAL 0\n");
        File.WriteAllText(Path.Combine(dir, "uevent"), $"DRIVER={driver}\nPCI_SLOT_NAME={address}\n");
        Link(Path.Combine(dir, "subsystem"), Path.Combine(sys, "bus", "pci"));
        Link(Path.Combine(dir, "driver"), Path.Combine(sys, "bus", "pci", "drivers", driver));
        Link(Path.Combine(listing, address), dir);
    }

    private static void WriteCharDevice(string sys, string dev, string dir, string devName, int major, int minor)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "dev"), $"{major}:{minor}\n");
        File.WriteAllText(Path.Combine(dir, "uevent"), $"MAJOR={major}\nMINOR={minor}\nDEVNAME={devName}\n");
        Link(Path.Combine(dir, "subsystem"), Path.Combine(sys, "class", "drm"));
        File.WriteAllText(Path.Combine(dev, devName), "");
    }

    private static void Link(string path, string target) =>
        File.CreateSymbolicLink(path, Path.GetRelativePath(Path.GetDirectoryName(path)!, target));
}
