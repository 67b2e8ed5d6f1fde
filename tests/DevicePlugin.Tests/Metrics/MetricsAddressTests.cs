using System.Net;
using DevicePlugin.Metrics;

namespace DevicePlugin.Tests.Metrics;

/// <summary>What the log says the metrics listener is bound on (the tests never bind a wildcard address themselves).</summary>
public sealed class MetricsAddressTests
{
    [Fact]
    public void The_default_wildcard_is_logged_as_bound_not_as_loopback()
    {
        Assert.True(MetricsEndpoint.TryParseAddress(DevicePlugin.Cli.DaemonOptions.DefaultMetricsAddress, out var address));
        var bound = new IPEndPoint(address!.Address, 9410);

        var logged = MetricsEndpoint.Describe(bound);

        Assert.Equal("http://0.0.0.0:9410 (every IPv4 address of the host)", logged);
        Assert.DoesNotContain("127.0.0.1", logged, StringComparison.Ordinal);
        // Connecting still goes to the loopback address.
        Assert.Equal(new Uri("http://127.0.0.1:9410"), MetricsEndpoint.AddressOf(bound));
    }

    [Theory]
    [InlineData("127.0.0.1", 9410, "http://127.0.0.1:9410")]
    [InlineData("::", 9410, "http://[::]:9410 (every address of the host)")]
    [InlineData("::1", 80, "http://[::1]:80")]
    public void An_address_is_logged_as_it_was_bound(string ip, int port, string expected) =>
        Assert.Equal(expected, MetricsEndpoint.Describe(new IPEndPoint(IPAddress.Parse(ip), port)));
}
