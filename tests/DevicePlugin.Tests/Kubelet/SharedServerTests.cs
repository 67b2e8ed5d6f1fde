using System.Net;
using System.Net.Sockets;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Kubelet;

/// <summary>
/// One server serves every resource socket and the metrics endpoint: each call answers from the resource whose
/// socket it came through, one resource's socket is recreated without touching another's stream, and the metrics
/// routes answer only on the metrics listener.
/// </summary>
public sealed class SharedServerTests
{
    private const string Fpga = "example.com/fpga";

    private const string FpgaResource = """
          - name: example.com/fpga
            source: simulated
            devices:
              - id: fpga-0
                numa: 1
              - id: fpga-1
        """;

    [Fact]
    public async Task Each_socket_answers_for_its_own_resource_and_a_recreated_socket_leaves_the_other_stream_open()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(extra: FpgaResource));
        var gpu = await node.RegistrationAsync(Configs.Gpu);
        var fpga = await node.RegistrationAsync(Fpga);
        await gpu.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        await fpga.WaitForListAsync(l => l.Devices.Count == 2, PluginNode.Wait);

        var gpuAnswer = await gpu.AllocateAsync("sim-0");
        Assert.Equal("sim-0", gpuAnswer.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        var fpgaAnswer = await fpga.AllocateAsync("fpga-1");
        Assert.Equal("fpga-1", fpgaAnswer.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        // An ID of the other resource is unknown on this socket.
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => fpga.AllocateAsync("sim-0"));
        Assert.Contains("sim-0", refused.Status.Detail, StringComparison.Ordinal);

        // The gpu resource's options change: its socket is recreated and it registers again.
        await node.WriteConfigAsync(Configs.Simulated(preStart: true, extra: FpgaResource));
        var gpu2 = await node.RegistrationAsync(Configs.Gpu, minGeneration: 2);
        Assert.True(gpu2.RegisteredOptions.PreStartRequired);
        await gpu2.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        await gpu.WaitForStreamEndAsync(PluginNode.Wait);

        // The fpga stream was not touched and still carries changes; its socket still answers.
        await node.WriteConfigAsync(Configs.Simulated(preStart: true, extra: FpgaResource.Replace("- id: fpga-1", "- id: fpga-1\n        health: Unhealthy", StringComparison.Ordinal)));
        await fpga.WaitForListAsync(l => !l.IsHealthy("fpga-1"), PluginNode.Wait);
        Assert.False(fpga.StreamEnded, $"fpga stream ended: {fpga.StreamEndStatus}");
        Assert.Same(fpga, node.Kubelet.Plugins[Fpga]);
        Assert.Equal(1, fpga.Generation);
        Assert.Equal("fpga-0", (await fpga.AllocateAsync("fpga-0")).ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
        Assert.Equal("sim-2", (await gpu2.AllocateAsync("sim-2")).ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
    }

    [Fact]
    public async Task The_metrics_routes_are_not_served_on_a_resource_socket()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var gpu = await node.RegistrationAsync(Configs.Gpu);
        await gpu.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        Assert.Equal(200, await node.StatusOfAsync("/healthz"));

        // HTTP/2 without TLS (prior knowledge), as the kubelet speaks it, over the resource's own socket.
        var socketPath = Path.Combine(node.KubeletDirectory, gpu.Endpoint);
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        foreach (var path in new[] { "/metrics", "/healthz", "/readyz" })
        {
            using var response = await http.GetAsync(new Uri($"http://localhost{path}"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task The_metrics_listener_answers_GET_of_its_three_paths_405_for_another_method_and_404_elsewhere()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        await node.RegistrationAsync(Configs.Gpu);
        using var http = new HttpClient { BaseAddress = node.Daemon.MetricsAddress };

        using var healthz = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal("ok\n", await healthz.Content.ReadAsStringAsync());
        Assert.Equal("text/plain", healthz.Content.Headers.ContentType?.MediaType);
        await Eventually.ValueAsync(() => node.StatusOfAsync("/readyz"), s => s == 200, PluginNode.Wait);
        Assert.Equal("ready\n", await node.GetAsync("/readyz"));
        using var metrics = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal("0.0.4", metrics.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);

        using var post = await http.PostAsync(new Uri("/metrics", UriKind.Relative), new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal("GET", post.Content.Headers.Allow.Single());
        using var elsewhere = await http.GetAsync(new Uri("/v1beta1.DevicePlugin/Allocate", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
    }
}
