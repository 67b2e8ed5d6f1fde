using System.Net;
using System.Net.Sockets;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Cli;

/// <summary>
/// The daemon reads its flags, DP_ variables and its config file, nothing else: ASP.NET's configuration sources
/// (appsettings*.json in the working directory, ASPNETCORE_*, DOTNET_*, Kestrel__*, Logging__*) change nothing.
/// </summary>
public sealed class OutsideConfigurationTests
{
    [Fact]
    public async Task Appsettings_and_aspnet_variables_open_no_listener_and_change_no_logging()
    {
        await using var node = await EmulatedNode.StartAsync();
        var (dir, kubeletDir, kubelet, config) = (node.Dir, node.KubeletDir, node.Kubelet, node.ConfigPath);
        var ports = Enumerable.Range(0, 8).Select(_ => FreePort()).ToArray();
        var work = dir.Combine("work");
        Directory.CreateDirectory(work);
        var settings = $$"""
            {
              "Kestrel": { "Endpoints": { "FromFile": { "Url": "http://127.0.0.1:{{ports[0]}}" } } },
              "Urls": "http://127.0.0.1:{{ports[1]}}",
              "Logging": { "LogLevel": { "Default": "Trace", "Microsoft": "Trace" } }
            }
            """;
        await File.WriteAllTextAsync(Path.Combine(work, "appsettings.json"), settings);
        await File.WriteAllTextAsync(Path.Combine(work, "appsettings.Production.json"), settings.Replace(ports[0].ToString(), ports[5].ToString(), StringComparison.Ordinal));

        using var daemon = new DaemonProcess(
            ["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address", $"127.0.0.1:{ports[4]}"],
            new Dictionary<string, string>
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ports[2]}",
                ["DOTNET_URLS"] = $"http://127.0.0.1:{ports[6]}",
                ["Kestrel__Endpoints__FromEnv__Url"] = $"http://127.0.0.1:{ports[3]}",
                ["ASPNETCORE_Kestrel__Endpoints__Prefixed__Url"] = $"http://127.0.0.1:{ports[7]}",
                ["Logging__LogLevel__Default"] = "Trace",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            },
            workingDirectory: work);
        DevicePlugin.KubeletEmulator.PluginConnection plugin;
        try
        {
            plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{daemon.Stderr}", e);
        }

        await plugin.WaitForListAsync(l => l.Devices.Count == 5, PluginNode.Wait);
        using (var http = new HttpClient())
        {
            // Started and serving its own endpoint: anything extra would be listening by now.
            Assert.Equal("ok\n", await http.GetStringAsync(new Uri($"http://127.0.0.1:{ports[4]}/healthz")));
        }

        foreach (var port in ports.Where(p => p != ports[4]))
        {
            Assert.False(Listening(port), $"something listens on 127.0.0.1:{port}\n{daemon.Stderr}");
        }

        Assert.DoesNotContain("dbug", daemon.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("trce", daemon.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Microsoft.AspNetCore", daemon.Stderr, StringComparison.Ordinal);
        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
