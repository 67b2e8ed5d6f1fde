using System.Runtime.InteropServices;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary><c>--driver-root</c>: NVML loaded from a host driver tree mounted into the container.</summary>
public sealed class NvmlDriverRootTests
{
    private const string Config = """
        resources:
          - name: nvidia.com/gpu
            source: nvml
        """;

    private static string Multiarch => NvmlLibraryLocator.MultiarchTriplet(RuntimeInformation.ProcessArchitecture)!;

    [Fact]
    public void The_search_order_is_usr_lib64_then_usr_lib_multiarch_then_lib64_then_lib_multiarch()
    {
        Assert.Equal(
            ["/drv/usr/lib64", "/drv/usr/lib/x86_64-linux-gnu", "/drv/lib64", "/drv/lib/x86_64-linux-gnu"],
            NvmlLibraryLocator.SearchDirectories("/drv/", Architecture.X64));
        Assert.Equal(
            ["/usr/lib64", "/usr/lib/aarch64-linux-gnu", "/lib64", "/lib/aarch64-linux-gnu"],
            NvmlLibraryLocator.SearchDirectories("/", Architecture.Arm64));
    }

    [Fact]
    public void The_first_directory_holding_the_library_wins()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("driver");
        foreach (var sub in (string[])[$"usr/lib/{Multiarch}", $"lib/{Multiarch}"])
        {
            Directory.CreateDirectory(Path.Combine(root, sub));
            File.WriteAllBytes(Path.Combine(root, sub, FakeNvml.LibraryName), []);
        }

        var found = NvmlLibraryLocator.Locate(FakeNvml.LibraryName, root);

        Assert.Equal(Path.Combine(root, "usr/lib", Multiarch, FakeNvml.LibraryName), found.Path);
    }

    [Fact]
    public void A_library_path_beats_the_driver_root_and_no_driver_root_leaves_the_name_to_the_loader()
    {
        Assert.Equal("/opt/nvml/libnvidia-ml.so.1", NvmlLibraryLocator.Locate("/opt/nvml/libnvidia-ml.so.1", "/drv").Path);
        Assert.Equal(FakeNvml.LibraryName, NvmlLibraryLocator.Locate(FakeNvml.LibraryName, null).Path);
    }

    [Fact]
    public async Task A_driver_tree_without_the_library_is_an_error_naming_the_directories_searched()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("empty-driver");
        Directory.CreateDirectory(root);
        await using var h = NvmlHarness.Create(NvmlHarness.Gpus(1), configure: o => o with
        {
            LibraryPath = "libnvidia-ml-absent.so.1",
            DriverRoot = root,
        });

        var e = await Assert.ThrowsAsync<SourceInitException>(() => h.ApplyAsync());

        Assert.Contains($"--driver-root has no libnvidia-ml-absent.so.1 in {root}/usr/lib64, {root}/usr/lib/{Multiarch}", e.Message);
    }

    [Fact]
    public async Task The_daemon_discovers_gpus_through_a_driver_tree()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("run/nvidia/driver");
        using var fake = FakeNvml.CreateIn(Path.Combine(root, "usr/lib", Multiarch), NvmlHarness.Gpus(2));
        await using var node = await PluginNode.StartAsync(Config, options: o => o with { DriverRoot = root });

        var plugin = await node.RegistrationAsync("nvidia.com/gpu");
        await plugin.WaitForListAsync(l => l.Devices.Count == 2, PluginNode.Wait);

        Assert.True(node.Logs.Contains(fake.LibraryPath), "the log names the library loaded from the driver tree");
    }

    [Fact]
    public async Task The_executable_with_driver_root_on_a_fake_driver_tree_advertises_its_gpus()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("driver-root");
        using var fake = FakeNvml.CreateIn(Path.Combine(root, "lib64"), NvmlHarness.Gpus(3));
        var kubeletDir = dir.Combine("k");
        await using var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, Config);
        Directory.CreateDirectory(dir.Combine("sys"));
        Directory.CreateDirectory(dir.Combine("dev"));

        using var daemon = new DaemonProcess(
            ["--config", config, "--kubelet-dir", kubeletDir, "--metrics-address=", "--sysfs-root", dir.Combine("sys"), "--dev-root", dir.Combine("dev")],
            new Dictionary<string, string> { ["DP_DRIVER_ROOT"] = root });
        var plugin = await kubelet.WaitForRegistrationAsync("nvidia.com/gpu", PluginNode.Wait);
        var list = await plugin.WaitForListAsync(l => l.Devices.Count == 3, PluginNode.Wait);

        Assert.Equal(["GPU-test-0", "GPU-test-1", "GPU-test-2"], list.Devices.Select(d => d.ID));
        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(Path.Combine(root, "lib64", FakeNvml.LibraryName), daemon.Stderr, StringComparison.Ordinal);
    }
}
