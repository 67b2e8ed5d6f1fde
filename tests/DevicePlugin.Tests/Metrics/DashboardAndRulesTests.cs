using System.Text.Json;
using System.Text.RegularExpressions;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.TestSupport;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Tests.Metrics;

/// <summary>
/// The Grafana dashboard and the PrometheusRule in deploy/monitoring/: importable, and built only on metric families
/// a running daemon (with PodResources answering) exports.
/// </summary>
public sealed partial class DashboardAndRulesTests
{
    [GeneratedRegex(@"\bdevice_plugin_[a-z0-9_]+")]
    private static partial Regex MetricName();

    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, relative);
            if (File.Exists(path) && File.Exists(Path.Combine(dir.FullName, "DevicePlugin.sln")))
            {
                return path;
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    private static JsonDocument Dashboard() => JsonDocument.Parse(File.ReadAllText(RepoFile("deploy/monitoring/grafana-dashboard.json")));

    private static YamlMappingNode Rules()
    {
        var yaml = new YamlStream();
        using var reader = new StreamReader(RepoFile("deploy/monitoring/prometheus-rules.yaml"));
        yaml.Load(reader);
        return (YamlMappingNode)Assert.Single(yaml.Documents).RootNode;
    }

    private static IEnumerable<string> DashboardExpressions(JsonElement dashboard)
    {
        foreach (var panel in dashboard.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                yield return target.GetProperty("expr").GetString()!;
            }
        }

        foreach (var variable in dashboard.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("definition", out var definition))
            {
                yield return definition.GetString()!;
            }
        }
    }

    private static IEnumerable<(string Alert, string Expr)> RuleExpressions(YamlMappingNode rules)
    {
        var groups = (YamlSequenceNode)((YamlMappingNode)rules["spec"])["groups"];
        foreach (var group in groups.Cast<YamlMappingNode>())
        {
            foreach (var rule in ((YamlSequenceNode)group["rules"]).Cast<YamlMappingNode>())
            {
                yield return (((YamlScalarNode)rule["alert"]).Value!, ((YamlScalarNode)rule["expr"]).Value!);
            }
        }
    }

    /// <summary>A histogram's series name maps to its family.</summary>
    private static string FamilyOf(string name, PrometheusText metrics)
    {
        foreach (var suffix in (string[])["_bucket", "_sum", "_count"])
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && metrics.Types.TryGetValue(name[..^suffix.Length], out var type) && type == "histogram")
            {
                return name[..^suffix.Length];
            }
        }

        return name;
    }

    [Fact]
    public void The_dashboard_is_an_importable_dashboard_with_a_datasource_variable_and_no_fixed_uid()
    {
        using var doc = Dashboard();
        var dashboard = doc.RootElement;
        Assert.Equal(JsonValueKind.Null, dashboard.GetProperty("uid").ValueKind);
        Assert.Equal(JsonValueKind.Null, dashboard.GetProperty("id").ValueKind);
        Assert.False(string.IsNullOrWhiteSpace(dashboard.GetProperty("title").GetString()));
        Assert.True(dashboard.GetProperty("schemaVersion").GetInt32() >= 36);
        Assert.False(dashboard.TryGetProperty("__inputs", out _), "a datasource variable replaces __inputs");

        var variables = dashboard.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.Equal("datasource", variables["datasource"].GetProperty("type").GetString());
        Assert.Equal("prometheus", variables["datasource"].GetProperty("query").GetString());
        Assert.Contains("node", variables.Keys);
        Assert.Contains("resource", variables.Keys);

        var panels = dashboard.GetProperty("panels").EnumerateArray().ToArray();
        Assert.True(panels.Length >= 8);
        var ids = new HashSet<int>();
        foreach (var panel in panels)
        {
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), "panel ids are unique");
            Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            var grid = panel.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            var targets = panel.GetProperty("targets").EnumerateArray().ToArray();
            Assert.NotEmpty(targets);
            Assert.All(targets, t =>
            {
                Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString()));
                Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("refId").GetString()));
                Assert.Equal("${datasource}", t.GetProperty("datasource").GetProperty("uid").GetString());
            });
        }

        var titles = panels.Select(p => p.GetProperty("title").GetString()!.ToLowerInvariant()).ToArray();
        foreach (var wanted in (string[])["unhealthy devices", "devices on the node", "xid", "aer", "transitions", "latency", "registration", "config reload", "sources down"])
        {
            Assert.Contains(titles, t => t.Contains(wanted, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_rules_are_a_prometheus_rule_with_the_four_alerts()
    {
        var rules = Rules();
        Assert.Equal("monitoring.coreos.com/v1", ((YamlScalarNode)rules["apiVersion"]).Value);
        Assert.Equal("PrometheusRule", ((YamlScalarNode)rules["kind"]).Value);
        var alerts = RuleExpressions(rules).ToDictionary(r => r.Alert, r => r.Expr);
        Assert.Equal(["DevicePluginConfigRefused", "DevicePluginDeviceUnhealthy", "DevicePluginResourceNotRegistered", "DevicePluginSourceDown"],
            alerts.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("device_plugin_device_allocation", alerts["DevicePluginDeviceUnhealthy"], StringComparison.Ordinal);
        Assert.Contains("pod", alerts["DevicePluginDeviceUnhealthy"], StringComparison.Ordinal);

        // A source is down while it is down, not for a while after a failed start it has recovered from.
        Assert.Equal("device_plugin_source_up == 0", alerts["DevicePluginSourceDown"]);
    }

    [Fact]
    public void The_sources_down_panels_count_sources_whose_source_up_is_zero()
    {
        using var doc = Dashboard();
        var panels = doc.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.GetProperty("title").GetString()!.Contains("sources down", StringComparison.OrdinalIgnoreCase))
            .ToArray();
        Assert.Equal(2, panels.Length);
        Assert.All(panels, p => Assert.Matches(@"^(count\()?device_plugin_source_up\{node=~""\$node""\} == 0",
            p.GetProperty("targets")[0].GetProperty("expr").GetString()!));
    }

    [Fact]
    public async Task Every_family_a_running_daemon_exports_is_listed_in_docs_metrics_md()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(), podResources: true);
        await node.RegistrationAsync(Configs.Gpu);
        var metrics = await node.ScrapeAsync();
        var documented = File.ReadAllText(RepoFile("docs/metrics.md"));
        var exported = metrics.Types.Keys.Where(n => n.StartsWith("device_plugin_", StringComparison.Ordinal)).ToArray();
        Assert.True(exported.Length >= 15, string.Join(", ", exported));
        var undocumented = exported.Where(n => !documented.Contains($"| `{n}` |", StringComparison.Ordinal)).ToArray();
        Assert.True(undocumented.Length == 0, "not in docs/metrics.md: " + string.Join(", ", undocumented));
    }

    [Fact]
    public async Task Every_metric_the_dashboard_and_the_rules_use_is_exported_by_a_running_daemon()
    {
        await using var node = await PluginNode.StartAsync(Configs.Simulated(replicas: 2), podResources: true);
        var plugin = await node.RegistrationAsync(Configs.Gpu);
        await plugin.WaitForListAsync(l => l.HealthyCount > 0, PluginNode.Wait);
        await node.Kubelet.AdmitPodAsync(PodSpec.WithDevices("trainer", Configs.Gpu, 1, "ml"));
        var metrics = await Eventually.ValueAsync(node.ScrapeAsync, m => m.Of("device_plugin_pod_resources_up").Any(s => s.Value == 1));

        using var doc = Dashboard();
        var used = DashboardExpressions(doc.RootElement)
            .Concat(RuleExpressions(Rules()).Select(r => r.Expr))
            .SelectMany(e => MetricName().Matches(e).Select(m => m.Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.True(used.Count >= 10, string.Join(", ", used));
        foreach (var name in used)
        {
            Assert.True(metrics.HasFamily(FamilyOf(name, metrics)), $"{name} is used but not exported:\n{metrics.Text}");
        }
    }
}
