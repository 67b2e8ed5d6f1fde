using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Simulated;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Pipeline;

/// <summary>
/// Sources publish devices; the manager joins them with each resource's policy. A change of policy only (replicas,
/// naming, PreStartContainer) goes out to the kubelet without the source being called.
/// </summary>
public sealed class PolicyJoinTests : IDisposable
{
    private const string Resource = "example.com/sim";

    private readonly TempDirectory _cdi = new();

    private string Config(int replicas = 1, string naming = "env", bool preStart = false, string secondId = "sim-1") => $"""
        resources:
          - name: {Resource}
            source: simulated
            replicas: {replicas}
            naming: {naming}
            preStart: {(preStart ? "true" : "false")}
            devices:
              - id: sim-0
              - id: {secondId}
        cdi:
          specDir: {_cdi.Path}
        """;

    /// <summary>The real simulated source, counting the calls it gets.</summary>
    private sealed class CountingSource(IDeviceSource inner) : IDeviceSource
    {
        private int _applied;

        public int Applied => Volatile.Read(ref _applied);

        public SourceKind Kind => inner.Kind;

        public Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _applied);
            return inner.ApplyAsync(assignment, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    public void Dispose() => _cdi.Dispose();

    [Fact]
    public async Task A_replicas_naming_or_preStart_change_is_published_again_without_calling_the_source()
    {
        CountingSource? counting = null;
        await using var node = await PluginNode.StartAsync(Config(), sources: (_, context) =>
            counting = new CountingSource(new SimulatedSource(context.Sink)));
        var first = await node.RegistrationAsync(Resource);
        await first.WaitForListAsync(l => l.Devices.Count == 2, PluginNode.Wait);
        Assert.Equal(1, counting!.Applied);

        await node.WriteConfigAsync(Config(replicas: 2, naming: "both", preStart: true));
        Assert.True(await node.Daemon.ReloadAsync(CancellationToken.None));

        // preStart changed, so the resource registers again; its list has the replicas.
        var second = await node.RegistrationAsync(Resource, minGeneration: 2);
        Assert.True(second.Options.PreStartRequired);
        var list = await second.WaitForListAsync(l => l.Devices.Count == 4, PluginNode.Wait);
        Assert.Equal(["sim-0::0", "sim-0::1", "sim-1::0", "sim-1::1"], list.Devices.Select(d => d.ID).Order(StringComparer.Ordinal));
        var response = await second.AllocateAsync("sim-1::0");
        Assert.Equal("sim-1", response.ContainerResponses[0].Envs[SimulatedSource.EnvironmentVariable]);
        Assert.Equal([$"{Resource}=sim-1"], response.ContainerResponses[0].CdiDevices.Select(c => c.Name));

        // The CDI spec comes from the same per-device edits as the Allocate answer.
        var spec = await Eventually.ValueAsync(
            () => Task.FromResult(Directory.GetFiles(_cdi.Path, "*.json").SingleOrDefault() is { } f ? File.ReadAllText(f) : ""),
            text => text.Contains("sim-1", StringComparison.Ordinal));
        Assert.Contains("SIMULATED_DEVICES_SIM_1=sim-1", spec);

        var snapshot = node.Daemon.Resources.State.Resources[Resource];
        Assert.Equal((2, DeviceNaming.Both, true), (snapshot.Replicas, snapshot.Naming, snapshot.PreStartRequired));
        Assert.Equal(1, counting.Applied);

        // A change to the source's own keys does reach it (the count above could have moved).
        await node.WriteConfigAsync(Config(replicas: 2, naming: "both", preStart: true, secondId: "sim-2"));
        Assert.True(await node.Daemon.ReloadAsync(CancellationToken.None));
        await second.WaitForListAsync(l => l.Devices.Any(d => d.ID == "sim-2::1"), PluginNode.Wait);
        Assert.Equal(2, counting.Applied);
    }
}
