using System.Collections.Immutable;
using System.Text.Json;
using DevicePlugin.Cdi;
using DevicePlugin.Inventory;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Tests.TestSupport;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Cdi;

public sealed class CdiSpecTests
{
    private const string NvidiaVisible = "NVIDIA_VISIBLE_DEVICES";

    internal static ResourceSnapshot Fpgas(string name = "example.com/fpga", params string[] ids) =>
        new(
            name,
            PciSchema.Kind,
            (ids.Length == 0 ? ["0000:3b:00.0", "0000:af:00.0"] : ids)
                .Select((id, i) => new PhysicalDevice { Id = id, DeviceNodes = [$"/dev/dri/renderD{128 + i}", $"/dev/xclmgmt{i}"] }
                    .Sets(PciEnvironment.VariableFor(name)))
                .ToImmutableArray(),
            sharedDeviceNodes: ["/dev/vfio/vfio"],
            naming: DeviceNaming.Cdi);

    internal static ResourceSnapshot Gpus() =>
        new(
            "nvidia.com/gpu",
            NvmlSchema.Kind,
            [
                new PhysicalDevice { Id = "GPU-8f6d2a4e-0000-1111-2222-333344445555", DeviceNodes = ["/dev/nvidia0"] }.Sets(NvidiaVisible),
                new PhysicalDevice { Id = "GPU-1c0ffee0-0000-1111-2222-333344445555", DeviceNodes = ["/dev/nvidia1"] }.Sets(NvidiaVisible),
            ],
            sharedDeviceNodes: ["/dev/nvidiactl", "/dev/nvidia-uvm"],
            naming: DeviceNaming.Both);

    private static JsonElement Json(CdiSpec spec) => JsonDocument.Parse(CdiSpecJson.Serialize(spec)).RootElement.Clone();

    [Fact]
    public void Gpu_spec_is_valid_cdi_030_with_one_device_per_gpu_and_shared_nodes_spec_wide()
    {
        var spec = CdiSpec.FromSnapshot(Gpus(), [])!;
        var json = Json(spec);
        Assert.Empty(CdiSpecValidator.Validate(json));

        Assert.Equal("0.3.0", json.GetProperty("cdiVersion").GetString());
        Assert.Equal("nvidia.com/gpu", json.GetProperty("kind").GetString());
        var devices = json.GetProperty("devices").EnumerateArray().ToArray();
        Assert.Equal(["GPU-8f6d2a4e-0000-1111-2222-333344445555", "GPU-1c0ffee0-0000-1111-2222-333344445555"],
            devices.Select(d => d.GetProperty("name").GetString()));
        var first = devices[0].GetProperty("containerEdits");
        Assert.Equal(["/dev/nvidia0"], first.GetProperty("deviceNodes").EnumerateArray().Select(n => n.GetProperty("path").GetString()));
        Assert.Equal(
            ["NVIDIA_VISIBLE_DEVICES_GPU_8F6D2A4E_0000_1111_2222_333344445555=GPU-8f6d2a4e-0000-1111-2222-333344445555"],
            first.GetProperty("env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["/dev/nvidiactl", "/dev/nvidia-uvm"],
            json.GetProperty("containerEdits").GetProperty("deviceNodes").EnumerateArray().Select(n => n.GetProperty("path").GetString()));
        // Nothing beyond the path: the runtime reads type and numbers from the host node.
        Assert.Single(first.GetProperty("deviceNodes")[0].EnumerateObject());
    }

    [Fact]
    public void Pci_addresses_start_with_a_digit_and_need_cdi_050()
    {
        var json = Json(CdiSpec.FromSnapshot(Fpgas(), [])!);
        Assert.Empty(CdiSpecValidator.Validate(json));
        Assert.Equal("0.5.0", json.GetProperty("cdiVersion").GetString());
        Assert.Equal(["0000:3b:00.0", "0000:af:00.0"],
            json.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()));
    }

    [Fact]
    public void A_dot_in_the_class_needs_cdi_060()
    {
        var json = Json(CdiSpec.FromSnapshot(Fpgas("xilinx.com/fpga-u200.shell"), [])!);
        Assert.Empty(CdiSpecValidator.Validate(json));
        Assert.Equal("0.6.0", json.GetProperty("cdiVersion").GetString());
    }

    [Fact]
    public void Spec_without_shared_nodes_has_no_spec_wide_edits()
    {
        var snapshot = new ResourceSnapshot(
            "example.com/sim", SimulatedSchema.Kind, [new PhysicalDevice { Id = "sim-0" }.Sets("SIMULATED_DEVICES"), new PhysicalDevice { Id = "sim-1" }.Sets("SIMULATED_DEVICES")]);
        var json = Json(CdiSpec.FromSnapshot(snapshot, [])!);
        Assert.Empty(CdiSpecValidator.Validate(json));
        Assert.False(json.TryGetProperty("containerEdits", out _));
        // Env alone keeps each device's edits non-empty, as CDI requires.
        Assert.Equal(["SIMULATED_DEVICES_SIM_0=sim-0"],
            json.GetProperty("devices")[0].GetProperty("containerEdits").GetProperty("env").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void Devices_with_names_cdi_refuses_are_left_out_and_named()
    {
        var problems = new List<string>();
        var spec = CdiSpec.FromSnapshot(Fpgas("example.com/fpga", "-odd", "a/b", "a_b", "good"), problems)!;
        Assert.Equal(["a_b", "good"], spec.Devices.Select(d => d.Name));
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("-odd"));
        Assert.Contains(problems, p => p.Contains("a_b") && p.Contains("already used"));
        Assert.Empty(CdiSpecValidator.Validate(Json(spec)));
    }

    [Fact]
    public void Env_variables_stay_distinct_when_device_names_differ_only_in_punctuation()
    {
        var spec = CdiSpec.FromSnapshot(Fpgas("example.com/fpga", "a-b", "a.b"), [])!;
        var variables = spec.Devices.Select(d => d.Env.Single().Split('=')[0]).ToArray();
        Assert.Equal(2, variables.Distinct().Count());
    }

    [Theory]
    [InlineData("nvidia")]
    [InlineData("1vendor.com/gpu")]
    [InlineData("example.com/gpu-")]
    [InlineData("example.com/g pu")]
    public void Invalid_kind_gives_no_spec_and_says_why(string kind)
    {
        var problems = new List<string>();
        Assert.Null(CdiSpec.FromSnapshot(Fpgas(kind), problems));
        Assert.Contains(kind, Assert.Single(problems));
    }

    [Fact]
    public void Specs_survive_a_json_and_yaml_round_trip()
    {
        foreach (var snapshot in new[] { Gpus(), Fpgas(), Fpgas("xilinx.com/fpga-u200.shell") })
        {
            var bytes = CdiSpecJson.Serialize(CdiSpec.FromSnapshot(snapshot, [])!);
            var json = JsonDocument.Parse(bytes).RootElement;
            Assert.Empty(CdiSpecValidator.Validate(json));

            var yaml = JsonYamlRoundTrip.ToYaml(json);
            Assert.Contains("cdiVersion:", yaml);
            var back = JsonYamlRoundTrip.FromYaml(yaml);
            Assert.True(JsonYamlRoundTrip.Same(JsonYamlRoundTrip.Plain(json), back), yaml);
        }
    }

    [Fact]
    public void Validator_catches_what_a_runtime_would_refuse()
    {
        static List<string> Check(string json) => CdiSpecValidator.Validate(JsonDocument.Parse(json).RootElement);

        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[]}"""), p => p.Contains("empty"));
        Assert.Contains(Check("""{"kind":"a.com/b","devices":[{"name":"x","containerEdits":{"env":["A=1"]}}]}"""),
            p => p.Contains("cdiVersion"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com","devices":[{"name":"x","containerEdits":{"env":["A=1"]}}]}"""),
            p => p.Contains("vendor/class"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[{"name":"0x","containerEdits":{"env":["A=1"]}}]}"""),
            p => p.Contains("0.5.0"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[{"name":"x","containerEdits":{}}]}"""),
            p => p.Contains("empty containerEdits"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[{"name":"x","containerEdits":{"deviceNodes":[{"type":"c"}]}}]}"""),
            p => p.Contains("path"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[{"name":"x","extra":1,"containerEdits":{"env":["A=1"]}}]}"""),
            p => p.Contains("unknown field extra"));
        Assert.Contains(Check("""{"cdiVersion":"0.3.0","kind":"a.com/b","devices":[{"name":"x","containerEdits":{"env":["A=1"]}},{"name":"x","containerEdits":{"env":["A=1"]}}]}"""),
            p => p.Contains("twice"));
    }
}
