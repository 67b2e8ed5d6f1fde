using System.Text.RegularExpressions;
using DevicePlugin.NodeFeatures;
using DevicePlugin.Tests.Sources.Nvml;
using DevicePlugin.Tests.Sources.Pci;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.NodeFeatures;

/// <summary>The Node Feature Discovery local feature file a running daemon keeps (--nfd-features-file).</summary>
public sealed partial class NfdFeatureFileTests
{
    // Kubernetes' rules, written out independently of the code under test.
    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    private static partial Regex ValuePattern();

    private static string NvmlConfig(int replicas, bool preStart = false) => $"""
        resources:
          - name: nvidia.com/gpu
            source: nvml
            replicas: {replicas}
            preStart: {(preStart ? "true" : "false")}
        """;

    /// <summary>Parses the file as nfd-worker does, checking every line is a valid <c>key=value</c> label.</summary>
    private static Dictionary<string, string> ReadLabels(string path)
    {
        var text = File.ReadAllText(path);
        Assert.True(text.Length <= 65536);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(eq > 0, line);
            var (key, value) = (line[..eq], line[(eq + 1)..]);
            Assert.Matches(KeyPattern(), key);
            Assert.True(key.Length - key.IndexOf('/', StringComparison.Ordinal) - 1 <= 63, key);
            Assert.Matches(ValuePattern(), value);
            Assert.True(labels.TryAdd(key, value), $"duplicate {key}");
        }

        return labels;
    }

    private static int Writes(PluginNode node) => node.Logs.Lines.Count(l => l.Contains("node feature labels written", StringComparison.Ordinal));

    [Fact]
    public async Task A_gpu_node_gets_gpu_feature_discovery_labels_rewritten_only_when_a_label_changes_and_deleted_at_shutdown()
    {
        using var fake = FakeNvml.Create("driver_version 550.107.02\ncuda_version 12050\n" + NvmlHarness.Gpus(4, "mig=0"));
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "features.d", "device-plugin");
        var node = await PluginNode.StartAsync(NvmlConfig(replicas: 1), options: o => o with { NvmlLibrary = fake.LibraryPath, NfdFeaturesFile = file });
        try
        {
            await node.RegistrationAsync("nvidia.com/gpu");
            await Eventually.TrueAsync(() => File.Exists(file), "the feature file is written");
            var labels = ReadLabels(file);
            Assert.Equal("4", labels["nvidia.com/gpu.count"]);
            Assert.Equal("NVIDIA-H100-80GB-HBM3", labels["nvidia.com/gpu.product"]);
            Assert.Equal("81559", labels["nvidia.com/gpu.memory"]);
            Assert.Equal("hopper", labels["nvidia.com/gpu.family"]);
            Assert.Equal(("9", "0"), (labels["nvidia.com/gpu.compute.major"], labels["nvidia.com/gpu.compute.minor"]));
            Assert.Equal(("1", "none"), (labels["nvidia.com/gpu.replicas"], labels["nvidia.com/gpu.sharing-strategy"]));
            Assert.Equal(("550", "107", "02", "550.107.02"), (labels["nvidia.com/cuda.driver-version.major"],
                labels["nvidia.com/cuda.driver-version.minor"], labels["nvidia.com/cuda.driver-version.revision"], labels["nvidia.com/cuda.driver-version.full"]));
            Assert.Equal(("12", "5", "12.5"), (labels["nvidia.com/cuda.runtime-version.major"],
                labels["nvidia.com/cuda.runtime-version.minor"], labels["nvidia.com/cuda.runtime-version.full"]));
            Assert.Equal("true", labels["nvidia.com/mig.capable"]);
            Assert.Equal(1, Writes(node));

            // A change that alters no label (preStart) leaves the file alone ...
            await node.WriteConfigAsync(NvmlConfig(replicas: 1, preStart: true));
            var plugin = await node.RegistrationAsync("nvidia.com/gpu", minGeneration: 2);
            Assert.True(plugin.Options.PreStartRequired);
            await node.Daemon.Resources.WaitForAppliedAsync(CancellationToken.None);
            Assert.Equal(1, Writes(node));

            // ... one that alters labels replaces it whole, through a dotfile renamed over it.
            var before = File.ReadAllText(file);
            await node.WriteConfigAsync(NvmlConfig(replicas: 4, preStart: true));
            await Eventually.TrueAsync(() => File.ReadAllText(file) != before, "the file is rewritten");
            labels = ReadLabels(file);
            Assert.Equal(("4", "time-slicing", "NVIDIA-H100-80GB-HBM3-SHARED"),
                (labels["nvidia.com/gpu.replicas"], labels["nvidia.com/gpu.sharing-strategy"], labels["nvidia.com/gpu.product"]));
            Assert.Equal(2, Writes(node));
            Assert.Equal(["device-plugin"], Directory.GetFiles(Path.GetDirectoryName(file)!).Select(Path.GetFileName));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(file));
        }
        finally
        {
            await node.DisposeAsync();
        }

        Assert.False(File.Exists(file), "the file is deleted at shutdown");
    }

    [Fact]
    public async Task A_pci_node_gets_count_vendor_device_and_driver_per_resource()
    {
        using var sysfs = new FakeSysfs();
        var root = sysfs.RootComplex("0000:00");
        root.Bridge("0000:00:01.0", numa: 0).Function("0000:03:00.0", 0x10ee, 0x5005, 0x120000, "xocl", numa: 0);
        root.Bridge("0000:00:02.0", numa: 1).Function("0000:83:00.0", 0x10ee, 0x5005, 0x120000, "xocl", numa: 1);
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "device-plugin");
        const string config = """
            resources:
              - name: xilinx.com/fpga-u250
                source: pci
                match:
                  - vendor: "0x10ee"
            """;
        await using var node = await PluginNode.StartAsync(config, options: o => o with { SysfsRoot = sysfs.SysRoot, DevRoot = sysfs.DevRoot, NfdFeaturesFile = file });
        await node.RegistrationAsync("xilinx.com/fpga-u250");
        await Eventually.TrueAsync(() => File.Exists(file), "the feature file is written");

        var labels = ReadLabels(file);
        Assert.Equal(new Dictionary<string, string>
        {
            ["xilinx.com/fpga-u250.count"] = "2",
            ["xilinx.com/fpga-u250.vendor"] = "10ee",
            ["xilinx.com/fpga-u250.device"] = "5005",
            ["xilinx.com/fpga-u250.driver"] = "xocl",
        }, labels);
    }

    [Theory]
    [InlineData("NVIDIA A100-SXM4-40GB (rev 1)", "NVIDIA-A100-SXM4-40GB--rev-1")]
    [InlineData("--weird..", "weird")]
    [InlineData("", "")]
    [InlineData("ünïcode", "n-code")]
    public void Values_are_sanitised_to_valid_label_values(string raw, string expected)
    {
        Assert.Equal(expected, FeatureLabel.SanitizeValue(raw));
        Assert.True(FeatureLabel.IsValidValue(FeatureLabel.SanitizeValue(raw)));
        var longValue = FeatureLabel.SanitizeValue(new string('a', 70) + raw);
        Assert.Equal(63, longValue.Length);
    }

    [Theory]
    [InlineData("nvidia.com/gpu.count", "nvidia.com/gpu.count")]
    [InlineData("Example.COM/fpga.count", "example.com/fpga.count")]
    [InlineData("example.com/my fpga!.count", "example.com/my-fpga-.count")]
    [InlineData("kubernetes.io/gpu.count", null)]
    [InlineData("node.kubernetes.io/gpu.count", null)]
    [InlineData("feature.node.kubernetes.io/gpu.count", "feature.node.kubernetes.io/gpu.count")]
    [InlineData("no-prefix", null)]
    [InlineData("bad_domain.com/x", null)]
    public void Keys_keep_an_allowed_prefix_and_a_valid_name(string raw, string? expected)
    {
        Assert.Equal(expected, FeatureLabel.SanitizeKey(raw));
        if (expected is not null)
        {
            Assert.True(FeatureLabel.IsValidKey(expected));
        }
    }
}
