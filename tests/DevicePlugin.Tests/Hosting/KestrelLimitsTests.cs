using System.Diagnostics;
using DevicePlugin.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DevicePlugin.Tests.Hosting;

public sealed class KestrelLimitsTests
{
    [Theory]
    [InlineData(128UL, 64L)]
    [InlineData(1024UL, 960L)]
    [InlineData(20UL, 16L)]
    [InlineData(1_048_576UL, 4096L)]
    [InlineData(ulong.MaxValue, 4096L)]
    public void Connections_are_bounded_by_what_the_open_file_limit_leaves(ulong softLimit, long expected) =>
        Assert.Equal(expected, KestrelLimits.ConnectionLimit(softLimit));

    [Fact]
    public void Apply_sets_the_connection_bound_from_this_processs_limit_and_the_4_MiB_body_limit()
    {
        var limit = KestrelLimits.OpenFileLimit();
        Assert.NotNull(limit);
        var kestrel = new KestrelServerOptions();
        KestrelLimits.Apply(kestrel);
        Assert.Equal(KestrelLimits.ConnectionLimit(limit), kestrel.Limits.MaxConcurrentConnections);
        Assert.Equal(4 * 1024 * 1024, kestrel.Limits.MaxRequestBodySize);
    }

    [Fact]
    public void The_soft_limit_is_read_from_the_process()
    {
        // Compare with what the shell reports for this process's limit (ulimit -n is inherited by the child).
        using var shell = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "ulimit -n"]) { RedirectStandardOutput = true })!;
        var text = shell.StandardOutput.ReadToEnd().Trim();
        shell.WaitForExit();
        var expected = text == "unlimited" ? ulong.MaxValue : ulong.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, KestrelLimits.OpenFileLimit());
    }
}
