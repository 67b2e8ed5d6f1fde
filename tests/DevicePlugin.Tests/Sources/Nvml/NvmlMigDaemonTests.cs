using System.Text.Json;
using DevicePlugin.Tests.TestSupport;
using static DevicePlugin.Tests.Sources.Nvml.NvmlMigTests;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>The whole daemon with MIG devices (migStrategy mixed), seen from the kubelet emulator.</summary>
public sealed class NvmlMigDaemonTests
{
    private static string Config(string cdiDir) => $"""
        resources:
          - name: nvidia.com/gpu
            source: nvml
            migStrategy: mixed
            naming: both
        cdi:
          specDir: {cdiDir}
        """;

    [Fact]
    public async Task Profiles_register_as_resources_that_come_and_go_with_reconfiguration_while_the_others_keep_their_streams()
    {
        using var fake = FakeNvml.Create(H200AndWhole);
        using var cdi = new TempDirectory();
        await using var node = await PluginNode.StartAsync(Config(cdi.Path), options: o =>
        {
            var proc = Path.Combine(Path.GetDirectoryName(o.DevRoot)!, "proc");
            FakeProc.WriteMigMinors(proc, gpus: 2);
            Directory.CreateDirectory(o.DevRoot);
            File.WriteAllBytes(Path.Combine(o.DevRoot, "nvidiactl"), []);
            return o with { NvmlLibrary = fake.LibraryPath, ProcRoot = proc };
        });

        var gpu = await node.RegistrationAsync("nvidia.com/gpu");
        var small = await node.RegistrationAsync("nvidia.com/mig-1g.18gb");
        await node.RegistrationAsync("nvidia.com/mig-3g.71gb");
        Assert.Equal(["GPU-whole"], (await gpu.WaitForListAsync(l => l.Devices.Count == 1, PluginNode.Wait)).Devices.Select(d => d.ID));
        var list = await small.WaitForListAsync(l => l.Devices.Count == 2, PluginNode.Wait);
        Assert.Equal([Mig(0, 2), Mig(0, 5)], list.Devices.Select(d => d.ID));
        Assert.All(list.Devices, d => Assert.Equal(0, d.Topology.Nodes.Single().ID));

        // Allocate: MIG UUIDs in request order, parent node, capability nodes, control nodes, CDI names.
        var response = (await small.AllocateAsync(Mig(0, 5), Mig(0, 2))).ContainerResponses.Single();
        Assert.Equal($"{Mig(0, 5)},{Mig(0, 2)}", response.Envs["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal(
            ["/dev/nvidia0", $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(0, 6)}", $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(0, 6, 0)}",
             $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(0, 3)}", $"/dev/nvidia-caps/nvidia-cap{FakeProc.CapabilityMinor(0, 3, 0)}", "/dev/nvidiactl"],
            response.Devices.Select(d => d.HostPath));
        Assert.Equal([$"nvidia.com/mig-1g.18gb={Mig(0, 5)}", $"nvidia.com/mig-1g.18gb={Mig(0, 2)}"], response.CdiDevices.Select(d => d.Name));
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(cdi.Path, "nvidia.com-mig-1g.18gb.json")), "the profile's CDI spec is written");
        using (var spec = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(cdi.Path, "nvidia.com-mig-1g.18gb.json"))))
        {
            Assert.Equal("nvidia.com/mig-1g.18gb", spec.RootElement.GetProperty("kind").GetString());
            Assert.Equal([Mig(0, 2), Mig(0, 5)], spec.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()));
        }

        // An XID on slot 2's instance (GPU instance 3): only it turns unhealthy.
        fake.Inject("xid 0 79 3 0");
        var faulted = await small.WaitForListAsync(l => l.HealthyCount == 1, PluginNode.Wait);
        Assert.False(faulted.IsHealthy(Mig(0, 2)));

        // A new profile registers; a profile that is gone unregisters; the other streams stay open.
        fake.Inject("mig 0 1 h200-141gb:2g");
        fake.Inject("migconfig 0");
        var added = await node.RegistrationAsync("nvidia.com/mig-2g.35gb");
        Assert.Equal([Mig(0, 1)], (await added.WaitForListAsync(l => l.Devices.Count == 1, PluginNode.Wait)).Devices.Select(d => d.ID));

        fake.Inject("migremove 0 0");
        fake.Inject("migconfig 0");
        await node.Kubelet.WaitForGoneAsync("nvidia.com/mig-3g.71gb", PluginNode.Wait);
        await Eventually.TrueAsync(() => !File.Exists(Path.Combine(cdi.Path, "nvidia.com-mig-3g.71gb.json")), "the gone profile's CDI spec is removed");

        Assert.False(gpu.StreamEnded, $"the gpu stream ended: {gpu.StreamEndStatus}");
        Assert.False(small.StreamEnded, $"the 1g stream ended: {small.StreamEndStatus}");
        Assert.Equal((1, 1), (gpu.Generation, small.Generation));
        Assert.False(small.LatestList!.IsHealthy(Mig(0, 2)));

        // migStrategy none in the config file: the profile resources go, nvidia.com/gpu keeps its stream.
        await node.WriteConfigAsync(Config(cdi.Path).Replace("migStrategy: mixed", "migStrategy: none", StringComparison.Ordinal));
        await node.Kubelet.WaitForGoneAsync("nvidia.com/mig-1g.18gb", PluginNode.Wait);
        await node.Kubelet.WaitForGoneAsync("nvidia.com/mig-2g.35gb", PluginNode.Wait);
        Assert.False(gpu.StreamEnded, $"the gpu stream ended: {gpu.StreamEndStatus}");
        Assert.Equal(["nvidia.com/gpu"], node.Daemon.Resources.State.Resources.Keys);
    }
}
