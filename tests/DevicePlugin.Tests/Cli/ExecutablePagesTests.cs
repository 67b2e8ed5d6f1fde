using System.Text.RegularExpressions;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Hosting;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// The published Native AOT daemon, once registered, unmaps the pages of its executable that start-up mapped
/// (<see cref="FilePageRelease"/>): it keeps serving Allocate, ListAndWatch and /metrics afterwards, and only the part
/// of the executable it runs comes back into its resident set. Needs the native executable, named by
/// <c>DEVICE_PLUGIN_NATIVE</c> (CI publishes first and sets it); without it the test says so and ends there.
/// </summary>
public sealed partial class ExecutablePagesTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_registered_native_daemon_releases_its_executables_pages_and_serves_on_with_part_of_them_mapped()
    {
        var executable = Environment.GetEnvironmentVariable("DEVICE_PLUGIN_NATIVE");
        if (string.IsNullOrEmpty(executable) || !File.Exists(executable))
        {
            output.WriteLine("COULD NOT RUN: set DEVICE_PLUGIN_NATIVE to the published device-plugin "
                + "(dotnet publish src/DevicePlugin -c Release -o out; DEVICE_PLUGIN_NATIVE=$PWD/out/device-plugin); CI does.");
            return;
        }

        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("k");
        await using var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();
        var config = dir.Combine("c.yaml");
        await File.WriteAllTextAsync(config, """
            resources:
              - name: example.com/gpu
                source: simulated
                devices: [{id: d0, numa: 0}, {id: d1, numa: 0}, {id: d2, numa: 1}, {id: d3, numa: 1}]
            """);
        using var daemon = new DaemonProcess(
            ["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address", "127.0.0.1:0"], executable: executable);
        var plugin = await kubelet.WaitForRegistrationAsync("example.com/gpu", TimeSpan.FromSeconds(60));
        await plugin.WaitForListAsync(l => l.HealthyCount == 4, PluginNode.Wait);

        await Eventually.TrueAsync(() => ReleasedLine().IsMatch(daemon.Stderr), "the daemon logs the release", TimeSpan.FromSeconds(60));
        var released = long.Parse(ReleasedLine().Match(daemon.Stderr).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var fileKiB = new FileInfo(executable).Length / 1024;
        output.WriteLine($"released {released} KiB of a {fileKiB} KiB executable");
        Assert.True(released > fileKiB / 2, $"released {released} KiB of a {fileKiB} KiB executable: start-up maps most of it");

        // Every kind of call still works after the release: an Allocate, a list change on the open stream, a scrape.
        using (var channel = UnixSocketChannel.Create(plugin.SocketPath))
        {
            var response = await new Api.V1Beta1.DevicePlugin.DevicePluginClient(channel).AllocateAsync(
                new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { "d1", "d2" } } } },
                deadline: DateTime.UtcNow.AddSeconds(60));
            Assert.Equal("d1,d2", Assert.Single(response.ContainerResponses).Envs["SIMULATED_DEVICES"]);
        }

        await File.WriteAllTextAsync(config + ".new", """
            resources:
              - name: example.com/gpu
                source: simulated
                devices: [{id: d0, numa: 0}, {id: d1, numa: 0}, {id: d2, numa: 1}, {id: d3, numa: 1, health: Unhealthy}]
            """);
        File.Move(config + ".new", config, overwrite: true);
        await plugin.WaitForListAsync(l => l.HealthyCount == 3, PluginNode.Wait);

        var address = new Uri(Regex.Match(daemon.Stderr, @"/readyz on (http://127\.0\.0\.1:\d+/?)").Groups[1].Value);
        using var http = new HttpClient();
        var metrics = PrometheusText.Parse(await http.GetStringAsync(new Uri(address, "/metrics")));
        Assert.Equal(1, metrics.Of("device_plugin_allocate_requests_total", ("resource", "example.com/gpu"), ("result", "ok")).Single().Value);

        // What is mapped now is what those calls ran (and the cached pages around each, which the kernel maps along),
        // less than start-up had mapped (about 60 % of it when this was written).
        var mapped = FilePageRelease.Parse(File.ReadAllText($"/proc/{daemon.Id}/smaps"), executable)!.Sum(m => m.RssKiB);
        output.WriteLine($"mapped after serving: {mapped} KiB");
        Assert.True(mapped < released, $"{mapped} KiB of the executable mapped after serving, {released} KiB released");
    }

    [GeneratedRegex(@"released (\d+) KiB of the executable's mapped pages")]
    private static partial Regex ReleasedLine();
}
