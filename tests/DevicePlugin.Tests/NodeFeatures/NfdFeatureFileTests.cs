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
            await Eventually.TrueAsync(() => Writes(node) >= 1, "the write is logged");
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

            // The write is logged just after the rename that the test saw: wait for the line, then count.
            await Eventually.TrueAsync(() => Writes(node) >= 2, "the rewrite is logged");
            await node.Daemon.Resources.WaitForAppliedAsync(CancellationToken.None);
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

    private static string MigConfig(string strategy, int replicas = 1) => $"""
        resources:
          - name: nvidia.com/gpu
            source: nvml
            migStrategy: {strategy}
            replicas: {replicas}
        """;

    /// <summary>A daemon on the stand-in NVML node <paramref name="gpus"/> with MIG capability nodes under a fake /proc.</summary>
    private static Task<PluginNode> StartMigNodeAsync(FakeNvml fake, string config, string file) =>
        PluginNode.StartAsync(config, options: o =>
        {
            var proc = Path.Combine(Path.GetDirectoryName(o.DevRoot)!, "proc");
            FakeProc.WriteMigMinors(proc, gpus: 2);
            return o with { NvmlLibrary = fake.LibraryPath, ProcRoot = proc, NfdFeaturesFile = file };
        });

    private static async Task<Dictionary<string, string>> LabelsOnceAsync(string file, Func<Dictionary<string, string>, bool> condition, string what)
    {
        Dictionary<string, string>? labels = null;
        await Eventually.TrueAsync(() => File.Exists(file) && condition(labels = ReadLabels(file)), what, TimeSpan.FromSeconds(30));
        return labels!;
    }

    private static Dictionary<string, string> Mig(Dictionary<string, string> labels) =>
        labels.Where(l => l.Key.StartsWith("nvidia.com/mig", StringComparison.Ordinal) && l.Key != "nvidia.com/mig.capable")
            .ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal);

    [Fact]
    public async Task Mig_single_labels_the_mig_devices_as_the_gpus_as_gpu_feature_discovery_does()
    {
        using var fake = FakeNvml.Create(NvmlMigTests.TwoH100s);
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "device-plugin");
        await using var node = await StartMigNodeAsync(fake, MigConfig("single"), file);
        await node.RegistrationAsync("nvidia.com/gpu");

        var labels = await LabelsOnceAsync(file, l => l.ContainsKey("nvidia.com/mig.strategy"), "the MIG labels are written");
        var expected = new Dictionary<string, string>
        {
            ["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb",
            ["nvidia.com/gpu.count"] = "4",
            ["nvidia.com/gpu.replicas"] = "1",
            ["nvidia.com/gpu.sharing-strategy"] = "none",
            ["nvidia.com/gpu.memory"] = "9984",
            ["nvidia.com/gpu.multiprocessors"] = "14",
            ["nvidia.com/gpu.slices.gi"] = "1",
            ["nvidia.com/gpu.slices.ci"] = "1",
            ["nvidia.com/gpu.engines.copy"] = "1",
            ["nvidia.com/gpu.engines.decoder"] = "0",
            ["nvidia.com/gpu.engines.encoder"] = "0",
            ["nvidia.com/gpu.engines.jpeg"] = "0",
            ["nvidia.com/gpu.engines.ofa"] = "0",
            ["nvidia.com/mig.strategy"] = "single",
            ["nvidia.com/mig.capable"] = "true",
        };
        Assert.Equal(expected, labels.Where(l => expected.ContainsKey(l.Key)).ToDictionary(l => l.Key, l => l.Value));
        Assert.Equal(("9", "hopper"), (labels["nvidia.com/gpu.compute.major"], labels["nvidia.com/gpu.family"]));
        Assert.Equal(["nvidia.com/mig.capable", "nvidia.com/mig.strategy"], labels.Keys.Where(k => k.StartsWith("nvidia.com/mig", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

        // Replicas share each MIG device: the product says SHARED.
        await node.WriteConfigAsync(MigConfig("single", replicas: 3));
        labels = await LabelsOnceAsync(file, l => l["nvidia.com/gpu.replicas"] == "3", "the replicas are relabelled");
        Assert.Equal(("NVIDIA-H100-80GB-HBM3-MIG-1g.10gb-SHARED", "time-slicing", "4"),
            (labels["nvidia.com/gpu.product"], labels["nvidia.com/gpu.sharing-strategy"], labels["nvidia.com/gpu.count"]));

        // migStrategy none: no mig.strategy, and the GPUs (all in MIG mode) are labelled whole without sharing.
        await node.WriteConfigAsync(MigConfig("none", replicas: 3));
        labels = await LabelsOnceAsync(file, l => !l.ContainsKey("nvidia.com/mig.strategy"), "the MIG labels are gone");
        Assert.Equal(("NVIDIA-H100-80GB-HBM3", "2", "0", "none"), (labels["nvidia.com/gpu.product"], labels["nvidia.com/gpu.count"],
            labels["nvidia.com/gpu.replicas"], labels["nvidia.com/gpu.sharing-strategy"]));
        Assert.False(labels.ContainsKey("nvidia.com/gpu.multiprocessors"));
    }

    [Fact]
    public async Task Mig_mixed_labels_each_profile_and_single_on_the_same_node_is_labelled_invalid()
    {
        using var fake = FakeNvml.Create(NvmlMigTests.H200AndWhole);
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "device-plugin");
        await using var node = await StartMigNodeAsync(fake, MigConfig("mixed", replicas: 2), file);
        await node.RegistrationAsync("nvidia.com/mig-1g.18gb");

        var labels = await LabelsOnceAsync(file, l => l.ContainsKey("nvidia.com/mig.strategy"), "the MIG labels are written");
        Assert.Equal(new Dictionary<string, string>
        {
            ["nvidia.com/mig.strategy"] = "mixed",
            ["nvidia.com/mig-1g.18gb.product"] = "NVIDIA-H200-MIG-1g.18gb-SHARED",
            ["nvidia.com/mig-1g.18gb.count"] = "2",
            ["nvidia.com/mig-1g.18gb.replicas"] = "2",
            ["nvidia.com/mig-1g.18gb.sharing-strategy"] = "time-slicing",
            ["nvidia.com/mig-1g.18gb.memory"] = "16384",
            ["nvidia.com/mig-1g.18gb.multiprocessors"] = "14",
            ["nvidia.com/mig-1g.18gb.slices.gi"] = "1",
            ["nvidia.com/mig-1g.18gb.slices.ci"] = "1",
            ["nvidia.com/mig-1g.18gb.engines.copy"] = "1",
            ["nvidia.com/mig-1g.18gb.engines.decoder"] = "0",
            ["nvidia.com/mig-1g.18gb.engines.encoder"] = "0",
            ["nvidia.com/mig-1g.18gb.engines.jpeg"] = "0",
            ["nvidia.com/mig-1g.18gb.engines.ofa"] = "0",
            ["nvidia.com/mig-3g.71gb.product"] = "NVIDIA-H200-MIG-3g.71gb-SHARED",
            ["nvidia.com/mig-3g.71gb.count"] = "1",
            ["nvidia.com/mig-3g.71gb.replicas"] = "2",
            ["nvidia.com/mig-3g.71gb.sharing-strategy"] = "time-slicing",
            ["nvidia.com/mig-3g.71gb.memory"] = "69632",
            ["nvidia.com/mig-3g.71gb.multiprocessors"] = "42",
            ["nvidia.com/mig-3g.71gb.slices.gi"] = "3",
            ["nvidia.com/mig-3g.71gb.slices.ci"] = "3",
            ["nvidia.com/mig-3g.71gb.engines.copy"] = "3",
            ["nvidia.com/mig-3g.71gb.engines.decoder"] = "0",
            ["nvidia.com/mig-3g.71gb.engines.encoder"] = "0",
            ["nvidia.com/mig-3g.71gb.engines.jpeg"] = "0",
            ["nvidia.com/mig-3g.71gb.engines.ofa"] = "0",
        }, Mig(labels));

        // The whole GPU carries the gpu.* labels and their sharing; the count is every GPU of the model, as GFD's.
        Assert.Equal(("NVIDIA-H200-SHARED", "2", "2", "time-slicing"), (labels["nvidia.com/gpu.product"], labels["nvidia.com/gpu.count"],
            labels["nvidia.com/gpu.replicas"], labels["nvidia.com/gpu.sharing-strategy"]));

        // single cannot advertise a node with MIG and whole GPUs: GFD's invalid labels.
        await node.WriteConfigAsync(MigConfig("single", replicas: 2));
        labels = await LabelsOnceAsync(file, l => l.GetValueOrDefault("nvidia.com/mig.strategy") == "single", "the strategy is relabelled");
        Assert.Equal(("NVIDIA-H200-MIG-INVALID", "0", "0", "0"), (labels["nvidia.com/gpu.product"], labels["nvidia.com/gpu.count"],
            labels["nvidia.com/gpu.replicas"], labels["nvidia.com/gpu.memory"]));
        Assert.Equal(["nvidia.com/mig.strategy"], Mig(labels).Keys);
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
