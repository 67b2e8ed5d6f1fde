using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Hosting;

public sealed class RequestDiagnosticsTests
{
    /// <summary>ASP.NET Core's per-request log category (request starting/finished lines).</summary>
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    [Fact]
    public async Task A_call_starts_no_request_logging_scope_so_no_request_activity_either()
    {
        // ASP.NET Core starts an Activity and a logging scope per request whenever its request-diagnostics category
        // logs at any level; the scope is what a logger provider can see of it.
        await using var node = await PluginNode.StartAsync(Configs.Simulated());
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.AllocateAsync("sim-0");
        var before = node.Logs.ScopesBegun(HostingDiagnosticsCategory);

        for (var i = 0; i < 5; i++)
        {
            await plugin.AllocateAsync("sim-0", "sim-2");
        }

        Assert.Equal(before, node.Logs.ScopesBegun(HostingDiagnosticsCategory));
        Assert.Contains("device_plugin_allocate_requests_total", await node.GetAsync("/metrics"), StringComparison.Ordinal);
    }
}
