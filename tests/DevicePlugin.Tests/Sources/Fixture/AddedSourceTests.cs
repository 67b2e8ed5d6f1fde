using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Simulated;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Sources.Fixture;

/// <summary>
/// A source is one folder plus one registration line: the <c>fixture</c> source, defined only in this test project
/// with its own config key, is read from a configuration file, validated in the same error style, and served through
/// the whole pipeline (manager, policy join, gRPC server, hot reload) without any edit to src/.
/// </summary>
public sealed class AddedSourceTests
{
    private const string Resource = "example.com/slot";

    private static string Config(int slots, int replicas = 1) => $"""
        resources:
          - name: {Resource}
            source: fixture
            replicas: {replicas}
            slots: {slots}
        """;

    [Fact]
    public void Its_key_is_read_by_its_own_schema_into_its_own_settings()
    {
        var resource = Assert.Single(FixtureSource.Registered.Schemas.Parse(Config(slots: 3, replicas: 2), "c.yaml").Resources);

        Assert.Equal(FixtureSchema.Kind, resource.Source);
        Assert.Equal(new FixtureSettings(3), resource.SettingsAs<FixtureSettings>());
        Assert.Equal(2, resource.Policy.Replicas);
    }

    [Theory]
    [InlineData("    slots: 0\n", 5, "resources[0].slots", "must be between 1 and 64, not 0")]
    [InlineData("    slots: many\n", 5, "resources[0].slots", "must be a whole number")]
    [InlineData("", 2, "resources[0].slots", "is required")]
    [InlineData("    slots: 2\n    colour: red\n", 6, "resources[0].colour",
        "unknown key (expected one of: name, source, replicas, preStart, naming, distinctDevices, extraDeviceNodes, slots)")]
    [InlineData("    slots: 2\n    devices: []\n", 6, "resources[0].devices", "applies to simulated resources only, not fixture")]
    public void Its_errors_name_file_line_and_key_like_every_other(string keys, int line, string key, string problem)
    {
        var yaml = $"resources:\n  - name: {Resource}\n    source: fixture\n    replicas: 1\n{keys}";

        var e = Assert.Throws<ConfigException>(() => FixtureSource.Registered.Schemas.Parse(yaml, "bad.yaml"));

        Assert.StartsWith($"bad.yaml:{line}: {key}: {problem}", e.Message, StringComparison.Ordinal);
        Assert.Equal((line, key), (e.Line, e.Key));
    }

    [Fact]
    public void Its_key_on_another_source_and_its_name_without_the_registration_are_refused()
    {
        var onSimulated = Assert.Throws<ConfigException>(() => FixtureSource.Registered.Schemas.Parse(
            "resources:\n  - name: a.com/x\n    source: simulated\n    slots: 2\n", "c.yaml"));
        Assert.Equal("c.yaml:4: resources[0].slots: applies to fixture resources only, not simulated", onSimulated.Message);

        var unknown = Assert.Throws<ConfigException>(() => FixtureSource.Registered.Schemas.Parse(
            "resources:\n  - name: a.com/x\n    source: gpu\n", "c.yaml"));
        Assert.Equal("c.yaml:3: resources[0].source: unknown source \"gpu\" (expected nvml, pci, simulated or fixture)", unknown.Message);

        // The built-in sources alone do not know it: the registration line is what adds it.
        var unregistered = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(
            "resources:\n  - name: a.com/x\n    source: fixture\n", "c.yaml"));
        Assert.Equal("c.yaml:3: resources[0].source: unknown source \"fixture\" (expected nvml, pci or simulated)", unregistered.Message);
        var itsKey = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(
            "resources:\n  - name: a.com/x\n    source: simulated\n    slots: 2\n", "c.yaml"));
        Assert.StartsWith("c.yaml:4: resources[0].slots: unknown key (expected one of: ", itsKey.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_registration_may_not_reuse_a_source_name_or_claim_a_common_key()
    {
        Assert.Throws<ArgumentException>(() => FixtureSource.Registered.With(new FixtureSchema(), c => new FixtureSource(c.Sink)));
        Assert.Throws<ArgumentException>(() => new SourceSchemas([new SimulatedSchema(), new ClaimsReplicas()]));
    }

    [Fact]
    public async Task It_runs_through_the_pipeline_and_its_own_key_reaches_it_on_reload()
    {
        FixtureSource? source = null;
        var catalog = DeviceSources.Builtin.With(new FixtureSchema(), context => source = new FixtureSource(context.Sink));
        await using var node = await PluginNode.StartAsync(Config(slots: 2, replicas: 2), catalog: catalog);

        var connection = await node.RegistrationAsync(Resource);
        var list = await connection.WaitForListAsync(l => l.Devices.Count == 4, PluginNode.Wait);
        Assert.Equal(["slot-0::0", "slot-0::1", "slot-1::0", "slot-1::1"], list.Devices.Select(d => d.ID).Order(StringComparer.Ordinal));
        var response = await connection.AllocateAsync("slot-1::0");
        Assert.Equal("slot-1", response.ContainerResponses[0].Envs[FixtureSource.EnvironmentVariable]);
        Assert.Equal(1, source!.Applied);

        // The daemon reads a changed file with the same catalog: the source's own key reaches the source.
        await node.WriteConfigAsync(Config(slots: 3, replicas: 2));
        Assert.True(await node.Daemon.ReloadAsync(CancellationToken.None));
        await connection.WaitForListAsync(l => l.Devices.Count == 6, PluginNode.Wait);
        Assert.Equal(2, source.Applied);

        // A bad value of its key is refused whole on reload, as any other key is; the last good list stays.
        await node.WriteConfigAsync(Config(slots: 65, replicas: 2));
        Assert.False(await node.Daemon.ReloadAsync(CancellationToken.None));
        Assert.Equal(6, node.Daemon.Resources.State.Resources[Resource].Advertised.Length);
    }

    private sealed class ClaimsReplicas : ISourceSchema
    {
        public SourceKind Kind { get; } = new("claims-replicas");

        public ImmutableArray<string> Keys { get; } = ["replicas"];

        public ISourceSettings Parse(SourceEntry entry) => new FixtureSettings(1);
    }
}
