using System.Text.Json;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cdi;

/// <summary>CDI spec files kept in step by the running daemon, and CDI names in Allocate.</summary>
public sealed class CdiDaemonTests
{
    private static string Config(string specDir, string naming, bool withFpga = true, string sim1 = "sim-1") => $"""
        resources:
          - name: example.com/gpu
            source: simulated
            naming: {naming}
            devices:
              - {"{"} id: sim-0, numa: 0 {"}"}
              - {"{"} id: {sim1}, numa: 0 {"}"}
        {(withFpga ? """
          - name: example.com/fpga
            source: simulated
            naming: cdi
            devices: [{ id: f0 }]
        """ : "")}
        cdi:
          specDir: {specDir}
        """;

    [Fact]
    public async Task Specs_follow_devices_and_resources_and_are_removed_at_shutdown()
    {
        using var cdi = new TempDirectory();
        var node = await PluginNode.StartAsync(Config(cdi.Path, "both"));
        try
        {
            var gpu = await node.RegistrationAsync("example.com/gpu");
            await node.RegistrationAsync("example.com/fpga");
            await Eventually.TrueAsync(() => Directory.GetFiles(cdi.Path).Length == 2, "two spec files");

            var response = (await gpu.AllocateAsync("sim-1", "sim-0")).ContainerResponses.Single();
            Assert.Equal(["example.com/gpu=sim-1", "example.com/gpu=sim-0"], response.CdiDevices.Select(d => d.Name));
            Assert.Equal("sim-1,sim-0", response.Envs["SIMULATED_DEVICES"]);

            // Every CDI name Allocate hands out is a device in the spec file for its kind.
            var spec = SpecOf(cdi.Path, "example.com/gpu");
            Assert.Equal(["sim-0", "sim-1"], spec.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()));

            // A device renamed in the config is renamed in the spec; a removed resource's spec goes.
            await node.WriteConfigAsync(Config(cdi.Path, "both", withFpga: false, sim1: "sim-9"));
            await Eventually.TrueAsync(() => Directory.GetFiles(cdi.Path).Length == 1, "the fpga spec is removed");
            await Eventually.TrueAsync(
                () => TrySpecOf(cdi.Path, "example.com/gpu") is { } gpuSpec && gpuSpec.GetProperty("devices").EnumerateArray().Any(d => d.GetProperty("name").GetString() == "sim-9"),
                "the gpu spec names sim-9");

            await node.Daemon.StopAsync();
            Assert.Empty(Directory.GetFiles(cdi.Path));
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_naming_cdi_allocate_gives_only_cdi_names()
    {
        using var cdi = new TempDirectory();
        await using var node = await PluginNode.StartAsync(Config(cdi.Path, "cdi", withFpga: false));
        var gpu = await node.RegistrationAsync("example.com/gpu");
        var response = (await gpu.AllocateAsync("sim-0")).ContainerResponses.Single();
        Assert.Equal(["example.com/gpu=sim-0"], response.CdiDevices.Select(d => d.Name));
        Assert.Empty(response.Envs);
        Assert.Empty(response.Devices);
    }

    private static JsonElement SpecOf(string dir, string kind) =>
        TrySpecOf(dir, kind) ?? throw new InvalidOperationException($"no spec of kind {kind} in {dir}");

    /// <summary>
    /// The spec of a kind, or null when none is found: a directory listing taken while a spec is renamed into place
    /// may miss it, so callers that poll use this.
    /// </summary>
    private static JsonElement? TrySpecOf(string dir, string kind)
    {
        foreach (var file in Directory.GetFiles(dir))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                if (doc.RootElement.GetProperty("kind").GetString() == kind)
                {
                    return doc.RootElement.Clone();
                }
            }
            catch (IOException)
            {
            }
        }

        return null;
    }
}
