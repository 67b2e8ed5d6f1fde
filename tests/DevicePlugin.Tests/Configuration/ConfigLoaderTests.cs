using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void The_interface_example_loads_with_every_field()
    {
        var config = DeviceSources.Schemas.Parse("""
            resources:
              - name: example.com/gpu
                source: nvml
                replicas: 2
                preStart: true
              - name: xilinx.com/fpga
                source: pci
                match:
                  - vendor: "0x10ee"
                    device: "0x5005"
                    class: "0x1200"
                    driver: "xocl"
                extraDeviceNodes: [/dev/xclmgmt]
                naming: both
                distinctDevices: true
              - name: example.com/sim
                source: simulated
                devices:
                  - id: sim-0
                    numa: 0
                    health: Unhealthy
            health:
              ignoredXids: [13, 31]
              recoverAfter: 1m30s
            cdi:
              specDir: /etc/cdi
            """, "c.yaml");

        Assert.Equal(3, config.Resources.Length);
        var gpu = config.Resources[0];
        Assert.Equal((NvmlSchema.Kind, 2, true), (gpu.Source, gpu.Replicas, gpu.PreStart));
        var fpga = config.Resources[1];
        var match = Assert.Single(fpga.SettingsAs<PciSettings>().Match);
        Assert.Equal((ushort)0x10ee, match.Vendor);
        Assert.Equal((ushort)0x5005, match.Device);
        Assert.Equal((ushort)0x1200, match.Class);
        Assert.Equal("xocl", match.Driver);
        Assert.True(match.Matches(0x10ee, 0x5005, 0x120000, "xocl"));
        Assert.False(match.Matches(0x10ee, 0x5005, 0x120000, "xclmgmt"));
        Assert.Equal(["/dev/xclmgmt"], fpga.ExtraDeviceNodes.ToArray());
        Assert.Equal(DeviceNaming.Both, fpga.Naming);
        Assert.True(fpga.DistinctDevices);
        var sim = Assert.Single(config.Resources[2].SettingsAs<SimulatedSettings>().Devices);
        Assert.Equal(("sim-0", 0, DeviceHealth.Unhealthy), (sim.Id, sim.Numa, sim.Health));
        Assert.Equal([13UL, 31UL], config.Health.IgnoredXids);
        Assert.Equal(TimeSpan.FromSeconds(90), config.Health.RecoverAfter);
        Assert.Equal("/etc/cdi", config.Cdi.SpecDirectory);
    }

    [Fact]
    public void Defaults_apply_when_sections_are_missing()
    {
        var config = DeviceSources.Schemas.Parse("resources: []", "c.yaml");
        Assert.Empty(config.Resources);
        Assert.Equal([13UL, 31UL, 43UL, 45UL, 68UL, 109UL], config.Health.IgnoredXids);
        Assert.Equal(TimeSpan.FromMinutes(5), config.Health.RecoverAfter);
        Assert.Equal("/var/run/cdi", config.Cdi.SpecDirectory);
        Assert.Equal(TimeSpan.Zero, DeviceSources.Schemas.Parse("health: {recoverAfter: 0}", "c").Health.RecoverAfter);
    }

    [Theory]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    replicas: 0\n", 4, "resources[0].replicas", "between 1 and 1024")]
    [InlineData("resources:\n  - name: a.com/x\n    source: gpu\n", 3, "resources[0].source", "unknown source \"gpu\"")]
    [InlineData("resources:\n  - source: simulated\n", 2, "resources[0].name", "is required")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n  - name: a.com/x\n    source: simulated\n", 4, "resources[1].name", "duplicate resource name")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    colour: red\n", 4, "resources[0].colour", "unknown key")]
    [InlineData("extra: 1\n", 1, "extra", "unknown key")]
    [InlineData("resources:\n  - name: gpu\n    source: simulated\n", 2, "resources[0].name", "domain/name")]
    [InlineData("resources:\n  - name: kubernetes.io/gpu\n    source: simulated\n", 2, "resources[0].name", "kubernetes.io")]
    [InlineData("resources:\n  - name: a.com/x\n    source: pci\n", 2, "resources[0].match", "at least one match")]
    [InlineData("resources:\n  - name: a.com/x\n    source: pci\n    match:\n      - vendor: \"0xzz\"\n", 5, "resources[0].match[0].vendor", "hexadecimal")]
    [InlineData("resources:\n  - name: a.com/x\n    source: nvml\n    devices: []\n", 4, "resources[0].devices", "simulated resources only")]
    [InlineData("resources:\n  - name: a.com/x\n    source: nvml\n  - name: a.com/y\n    source: nvml\n", 4, "resources[1].source", "only one nvml")]
    [InlineData("health:\n  recoverAfter: soon\n", 2, "health.recoverAfter", "duration")]
    [InlineData("health:\n  ignoredXids: [13, -1]\n", 2, "health.ignoredXids[1]", "at least 0")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    devices:\n      - id: a\n      - id: a\n", 6, "resources[0].devices[1].id", "duplicate device id")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    devices:\n      - id: a\n        health: Sick\n", 6, "resources[0].devices[0].health", "Healthy or Unhealthy")]
    [InlineData("resources: [\n", 2, "(syntax)", "")]
    [InlineData("resources:\n  - name: a.com/x\n    source: nvml\n    migStrategy: all\n", 4, "resources[0].migStrategy", "none, single or mixed")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    migStrategy: mixed\n", 4, "resources[0].migStrategy", "nvml resources only")]
    public void Every_bad_input_names_file_line_and_key(string yaml, int line, string key, string problem)
    {
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(yaml, "bad.yaml"));
        Assert.Equal("bad.yaml", e.File);
        Assert.Equal(line, e.Line);
        Assert.Equal(key, e.Key);
        Assert.Contains(problem, e.Problem, StringComparison.Ordinal);
        Assert.StartsWith($"bad.yaml:{line}: {key}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_a_config_error_naming_the_file()
    {
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.LoadFile("/nonexistent/dp.yaml"));
        Assert.StartsWith("/nonexistent/dp.yaml: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5m", 300_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("500ms", 500)]
    [InlineData("1.5s", 1500)]
    [InlineData("0", 0)]
    public void Durations_parse_like_kubernetes(string text, double ms)
    {
        Assert.True(DurationParser.TryParse(text, out var value));
        Assert.Equal(ms, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5 minutes")]
    [InlineData("m")]
    public void Bad_durations_are_refused(string text) => Assert.False(DurationParser.TryParse(text, out _));

    [Theory]
    [InlineData("", MigStrategy.None)]
    [InlineData("    migStrategy: none\n", MigStrategy.None)]
    [InlineData("    migStrategy: single\n", MigStrategy.Single)]
    [InlineData("    migStrategy: mixed\n", MigStrategy.Mixed)]
    public void Mig_strategy_is_read_for_nvml_resources(string line, MigStrategy expected)
    {
        var config = DeviceSources.Schemas.Parse("resources:\n  - name: nvidia.com/gpu\n    source: nvml\n" + line, "c.yaml");
        Assert.Equal(expected, Assert.Single(config.Resources).SettingsAs<NvmlSettings>().MigStrategy);
    }
}
