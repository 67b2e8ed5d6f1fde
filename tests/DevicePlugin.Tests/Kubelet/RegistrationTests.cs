using DevicePlugin.Kubelet;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Kubelet;

public sealed class RegistrationTests
{
    [Fact]
    public async Task Registers_with_the_fields_the_kubelet_checks_and_serves_before_registering()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(preStart: true));
        var plugin = await node.RegistrationAsync(Configs.Gpu);

        Assert.Equal("dp-example.com_gpu.sock", plugin.Endpoint);
        Assert.True(plugin.RegisteredOptions.GetPreferredAllocationAvailable);
        Assert.True(plugin.RegisteredOptions.PreStartRequired);
        // The emulator dialled back inside Register (GetDevicePluginOptions): the plugin was serving already,
        // and the options it answered match the ones it registered with.
        Assert.Equal(plugin.RegisteredOptions, plugin.Options);
        Assert.Empty(node.Kubelet.Rejections);

        var socket = Path.Combine(node.KubeletDirectory, plugin.Endpoint);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
    }

    [Fact]
    public async Task The_first_list_carries_every_device_with_its_numa_node_and_none_when_unknown()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var list = await plugin.WaitForListAsync(l => l.Devices.Count > 0, PluginNode.Wait);

        Assert.Equal(["sim-0", "sim-1", "sim-2", "sim-3", "sim-x"], list.Devices.Select(d => d.ID));
        Assert.Equal(["Healthy", "Unhealthy", "Healthy", "Healthy", "Healthy"], list.Devices.Select(d => d.Health));
        Assert.Equal(0, Assert.Single(list.Find("sim-0")!.Topology.Nodes).ID);
        Assert.Equal(1, Assert.Single(list.Find("sim-3")!.Topology.Nodes).ID);
        Assert.Null(list.Find("sim-x")!.Topology);
    }

    [Fact]
    public async Task Replicas_are_advertised_as_id_colon_colon_k_sharing_health()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(sim1Health: "Unhealthy", replicas: 2));
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        var list = await plugin.WaitForListAsync(l => l.Devices.Count > 0, PluginNode.Wait);

        Assert.Equal(10, list.Devices.Count);
        Assert.Equal(["sim-1::0", "sim-1::1"], list.Devices.Where(d => d.Health == "Unhealthy").Select(d => d.ID));
    }

    [Fact]
    public async Task A_refused_registration_is_logged_with_the_kubelets_message_and_retried()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false);
        node.Kubelet.RejectNext(2, "kubelet says no: testing");
        await node.Kubelet.StartAsync();

        var plugin = await node.RegistrationAsync(Configs.Gpu);
        Assert.Equal(2, node.Kubelet.Rejections.Count);
        Assert.True(node.Logs.Contains("kubelet says no: testing"), "the kubelet's message is logged");
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
    }

    [Fact]
    public async Task A_late_kubelet_is_registered_with_once_it_appears_and_readyz_follows()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false);
        await Eventually.TrueAsync(() => node.Daemon.Resources.Servers.Any(s => s.State == RegistrationState.Failed), "a registration attempt failed");
        Assert.Equal(200, await node.StatusOfAsync("/healthz"));
        Assert.Equal(503, await node.StatusOfAsync("/readyz"));

        await node.Kubelet.StartAsync();
        var plugin = await node.Kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(3));
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        await Eventually.TrueAsync(() => node.Daemon.Resources.AllRegistered, "all registered");
        Assert.Equal(200, await node.StatusOfAsync("/readyz"));
    }

    [Fact]
    public async Task A_kubelet_that_starts_later_in_an_existing_directory_and_wipes_our_socket_is_still_registered_with()
    {
        // The directory exists (an earlier kubelet made it) but nobody listens: the plugin serves and retries.
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), startKubelet: false,
            options: o => { Directory.CreateDirectory(o.KubeletDirectory); return o; });
        await Eventually.TrueAsync(() => node.Daemon.Resources.Servers.Any(s => s.State == RegistrationState.Failed), "a registration attempt failed");
        var socket = Path.Combine(node.KubeletDirectory, ResourceServer.EndpointFor(Configs.Gpu));
        Assert.True(File.Exists(socket), "serving while the kubelet is away");

        // The kubelet's start deletes every socket in the directory, ours included.
        await node.Kubelet.StartAsync();
        var plugin = await node.Kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(3));
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        Assert.True(File.Exists(socket));
    }

    [Fact]
    public async Task After_a_kubelet_restart_the_plugin_recreates_its_socket_and_registers_again_within_two_seconds()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var first = await node.RegistrationAsync(Configs.Gpu);
        await first.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        // The emulator's restart deletes every socket in the directory, ours included, then listens anew.
        await node.Kubelet.RestartAsync();
        var restartedAt = DateTimeOffset.UtcNow;
        var second = await node.Kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(5), minGeneration: 2);
        Assert.True(second.RegisteredAt - restartedAt < TimeSpan.FromSeconds(2),
            $"registered again {(second.RegisteredAt - restartedAt).TotalMilliseconds:0} ms after the restart");
        var list = await second.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        Assert.Equal(5, list.HealthyCount);
        Assert.True(File.Exists(Path.Combine(node.KubeletDirectory, second.Endpoint)));
    }

    [Fact]
    public async Task Several_concurrent_streams_all_receive_the_initial_list_and_every_change()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);

        // A second client (like a second kubelet connection) opens its own stream on the plugin's socket.
        using var channel = Api.UnixSocketChannel.Create(plugin.SocketPath);
        var client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(channel);
        using var stream = client.ListAndWatch(new Api.V1Beta1.Empty());
        Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(5, stream.ResponseStream.Current.Devices.Count);

        await node.WriteConfigAsync(Configs.Simulated(sim1Health: "Unhealthy"));
        await plugin.WaitForListAsync(l => !l.IsHealthy("sim-1"), PluginNode.Wait);
        using var cts = new CancellationTokenSource(PluginNode.Wait);
        Assert.True(await stream.ResponseStream.MoveNext(cts.Token));
        Assert.Equal("Unhealthy", stream.ResponseStream.Current.Devices.Single(d => d.ID == "sim-1").Health);
        Assert.False(plugin.StreamEnded);
    }

    [Fact]
    public async Task Stopping_ends_the_streams_and_removes_the_sockets()
    {
        var node = await PluginNode.StartAsync(Configs.Simulated());
        try
        {
            var plugin = await node.RegistrationAsync(Configs.Gpu);
            await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
            var socket = Path.Combine(node.KubeletDirectory, plugin.Endpoint);
            Assert.True(File.Exists(socket));

            await node.Daemon.StopAsync();
            Assert.False(File.Exists(socket));
            await plugin.WaitForStreamEndAsync(PluginNode.Wait);
        }
        finally
        {
            await node.DisposeAsync();
        }
    }
}
