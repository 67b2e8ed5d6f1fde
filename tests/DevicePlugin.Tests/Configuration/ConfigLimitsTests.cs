using System.Diagnostics;
using System.Text;
using DevicePlugin.Configuration;
using DevicePlugin.Tests.TestSupport;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Configuration;

/// <summary>The configuration file's limits (INTERFACE.md): each an error naming it, checked before any work is done.</summary>
public sealed class ConfigLimitsTests
{
    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("# only a comment\n# and another\n")]
    [InlineData("---\n")]
    public void An_empty_or_comment_only_file_is_an_error_not_no_resources(string yaml)
    {
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(yaml, "c.yaml"));
        Assert.Equal("c.yaml: (file): is empty or holds only comments (write \"resources: []\" to advertise nothing)", e.Message);
        Assert.Empty(DeviceSources.Schemas.Parse("resources: []", "c.yaml").Resources);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(40_000)]
    [InlineData(65)]
    public void Nesting_past_64_levels_is_refused_before_the_document_is_built(int levels)
    {
        var yaml = "resources: " + new string('[', levels) + new string(']', levels) + "\n";
        var started = Stopwatch.GetTimestamp();
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(yaml, "deep.yaml"));
        Assert.Equal("(structure)", e.Key);
        Assert.Contains("deeper than the limit of 64 levels", e.Problem, StringComparison.Ordinal);
        // Refused at level 65 without reading on: far below the 14 s the whole document took.
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Block_style_nesting_counts_too_and_64_levels_are_accepted_up_to_the_schema()
    {
        var deep = new StringBuilder("health:\n");
        for (var i = 1; i < 70; i++)
        {
            deep.Append(new string(' ', i)).Append('k').Append(i).Append(":\n");
        }

        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(deep.ToString(), "d.yaml"));
        Assert.Equal("(structure)", e.Key);

        // 64 levels pass the limit; the schema then names the first unknown key.
        var ok = "resources: " + new string('[', 63) + new string(']', 63) + "\n";
        var schema = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(ok, "d.yaml"));
        Assert.NotEqual("(structure)", schema.Key);
    }

    [Fact]
    public void A_file_over_one_MiB_is_refused_naming_the_limit()
    {
        var big = "# " + new string('x', ConfigFileReader.MaxBytes) + "\nresources: []\n";
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(Encoding.UTF8.GetBytes(big), "big.yaml"));
        Assert.Equal("big.yaml: (file): is larger than the limit of 1 MiB (1,048,576 bytes)", e.Message);

        using var dir = new TempDirectory();
        var path = dir.Combine("big.yaml");
        File.WriteAllText(path, big);
        var fromFile = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.LoadFile(path));
        Assert.Contains("larger than the limit of 1 MiB", fromFile.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("99999999999h")]
    [InlineData("999999999999999999999999999999s")]
    public void A_duration_too_large_for_a_TimeSpan_is_a_config_error(string text)
    {
        Assert.False(DurationParser.TryParse(text, out _));
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse($"health:\n  recoverAfter: {text}\n", "c.yaml"));
        Assert.Equal("health.recoverAfter", e.Key);
    }

    [Theory]
    [InlineData("/dev/")]
    [InlineData("/dev/..")]
    [InlineData("/dev/../etc/shadow")]
    [InlineData("/dev/./nvidia0")]
    [InlineData("/dev//nvidia0")]
    [InlineData("/dev/nvidia0/")]
    [InlineData("/dev")]
    [InlineData("dev/nvidia0")]
    public void Extra_device_nodes_must_be_normalised_files_under_dev(string path)
    {
        var yaml = $"resources:\n  - name: a.com/x\n    source: simulated\n    extraDeviceNodes: [\"{path}\"]\n";
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(yaml, "c.yaml"));
        Assert.Equal("resources[0].extraDeviceNodes[0]", e.Key);
        Assert.Contains("normalised path of a file under /dev", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_ID_of_128_characters_is_accepted_and_a_longer_one_is_refused_naming_the_limit()
    {
        static string Yaml(string id, int replicas) =>
            $"resources:\n  - name: a.com/x\n    source: simulated\n    replicas: {replicas}\n    devices:\n      - id: {id}\n";

        // INTERFACE.md: a device ID at most 128 characters (an ID of 64 to 128 was refused at 63 before).
        Assert.Equal(new string('a', 128), Assert.Single(Assert.Single(DeviceSources.Schemas.Parse(Yaml(new string('a', 128), 1), "c.yaml").Resources).SettingsAs<SimulatedSettings>().Devices).Id);
        Assert.Single(DeviceSources.Schemas.Parse(Yaml(new string('b', 100), 1), "c.yaml").Resources);

        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(Yaml(new string('a', 129), 1), "c.yaml"));
        Assert.Equal("resources[0].devices[0].id", e.Key);
        Assert.Contains("has 129 characters; a device ID is at most 128 characters", e.Problem, StringComparison.Ordinal);

        // Every advertised ID counts its replica suffix: "<125 chars>::9" is 128, "<125 chars>::10" is 129.
        Assert.Single(DeviceSources.Schemas.Parse(Yaml(new string('c', 125), 10), "c.yaml").Resources);
        var suffixed = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(Yaml(new string('c', 125), 11), "c.yaml"));
        Assert.Contains("with its replica suffix (\"::10\") it has 129 characters", suffixed.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_resource_whose_ListAndWatch_message_would_pass_4_MiB_is_refused()
    {
        var devices = string.Concat(Enumerable.Range(0, 256).Select(i => $"      - id: dev-{i:D4}-padding-padding\n        numa: 1\n"));
        var yaml = $"resources:\n  - name: a.com/x\n    source: simulated\n    replicas: 1024\n    devices:\n{devices}";
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(yaml, "c.yaml"));
        Assert.Equal("resources[0]", e.Key);
        Assert.Contains("more than the kubelet's limit of 4 MiB (4,194,304 bytes)", e.Problem, StringComparison.Ordinal);
        Assert.Contains("256 devices x 1024 replicas", e.Problem, StringComparison.Ordinal);

        // The same devices with fewer replicas fit.
        Assert.Single(DeviceSources.Schemas.Parse(yaml.Replace("replicas: 1024", "replicas: 64", StringComparison.Ordinal), "c.yaml").Resources);
    }

    [Fact]
    public void The_size_estimate_matches_the_encoded_message()
    {
        var yaml = "resources:\n  - name: a.com/x\n    source: simulated\n    replicas: 3\n    devices:\n      - id: a\n        numa: 0\n      - id: b\n        numa: 300\n        health: Unhealthy\n      - id: c\n";
        var config = DeviceSources.Schemas.Parse(yaml, "c.yaml");
        var response = new Api.V1Beta1.ListAndWatchResponse();
        foreach (var d in config.Resources[0].SettingsAs<SimulatedSettings>().Devices)
        {
            for (var k = 0; k < 3; k++)
            {
                var device = new Api.V1Beta1.Device { ID = $"{d.Id}::{k}", Health = d.Health.ToString() };
                if (d.Numa is { } n)
                {
                    device.Topology = new Api.V1Beta1.TopologyInfo();
                    device.Topology.Nodes.Add(new Api.V1Beta1.NUMANode { ID = n });
                }

                response.Devices.Add(device);
            }
        }

        Assert.Equal(response.CalculateSize(), SimulatedSchema.ListAndWatchSizeOf(config.Resources[0]));
    }

    [Fact]
    public void A_FIFO_or_a_device_is_not_read_and_is_named()
    {
        using var dir = new TempDirectory();
        var fifo = dir.Combine("fifo.yaml");
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
        }

        var started = Stopwatch.GetTimestamp();
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.LoadFile(fifo));
        Assert.Equal($"{fifo}: (file): cannot be read: is a FIFO (named pipe), not a regular file", e.Message);
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(4), "answered without opening the FIFO");

        var zero = dir.Combine("zero.yaml");
        File.CreateSymbolicLink(zero, "/dev/zero");
        var z = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.LoadFile(zero));
        Assert.Equal($"{zero}: (file): cannot be read: is a character device, not a regular file", z.Message);

        var folder = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.LoadFile(dir.Path));
        Assert.Contains("is a directory, not a regular file", folder.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("resources:\n  - name: a.com/x\n    source: {0}\n")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    devices:\n      - id: {0}\n")]
    [InlineData("resources:\n  - name: a.com/x\n    source: simulated\n    preStart: {0}\n")]
    public void A_long_value_in_an_error_is_quoted_to_128_characters(string template)
    {
        var value = new string('v', 100_000);
        var e = Assert.Throws<ConfigException>(() => DeviceSources.Schemas.Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, value), "c.yaml"));
        Assert.Contains(new string('v', 128) + "…", e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Length < 400, $"{e.Message.Length} characters");
    }
}
