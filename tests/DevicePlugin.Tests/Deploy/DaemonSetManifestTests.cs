using System.Text.RegularExpressions;
using DevicePlugin.Configuration;
using DevicePlugin.Tests.TestSupport;
using k8s;
using k8s.Models;

namespace DevicePlugin.Tests.Deploy;

/// <summary>
/// daemonset.yaml, loaded strictly into Kubernetes types (KubernetesClient's YAML loader: an unknown or misspelt
/// field fails), checked for least privilege, its mounts, placement, probes and that it passes only real flags.
/// </summary>
public sealed partial class DaemonSetManifestTests
{
    private static readonly Lazy<string> Text = new(() => File.ReadAllText(FindManifest()));
    private static readonly Lazy<List<object>> Objects = new(() => KubernetesYaml.LoadAllFromString(Text.Value, TypeMap, strict: true));

    private static readonly Dictionary<string, Type> TypeMap = new()
    {
        ["v1/ServiceAccount"] = typeof(V1ServiceAccount),
        ["v1/ConfigMap"] = typeof(V1ConfigMap),
        ["apps/v1/DaemonSet"] = typeof(V1DaemonSet),
    };

    private static V1DaemonSet DaemonSet => Objects.Value.OfType<V1DaemonSet>().Single();

    private static V1PodSpec Pod => DaemonSet.Spec.Template.Spec;

    private static V1Container Container => Pod.Containers.Single();

    [Fact]
    public void It_holds_a_service_account_without_a_token_a_config_map_and_the_daemon_set_in_one_namespace()
    {
        Assert.Equal(3, Objects.Value.Count);
        var account = Objects.Value.OfType<V1ServiceAccount>().Single();
        Assert.False(account.AutomountServiceAccountToken);
        Assert.Equal(account.Metadata.Name, Pod.ServiceAccountName);
        Assert.False(Pod.AutomountServiceAccountToken);
        Assert.All(Objects.Value.Cast<IMetadata<V1ObjectMeta>>(), o => Assert.Equal("kube-system", o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void A_manifest_with_an_unknown_field_is_refused()
    {
        var misspelt = Text.Value.Replace("readOnlyRootFilesystem:", "readOnlyRootFileSystem:", StringComparison.Ordinal);
        Assert.NotEqual(Text.Value, misspelt);
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(misspelt, TypeMap, strict: true));
    }

    [Fact]
    public void The_container_runs_with_least_privilege()
    {
        var security = Container.SecurityContext;
        Assert.NotEqual(true, security.Privileged);
        Assert.False(security.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.True(security.Capabilities.Add is null || security.Capabilities.Add.Count == 0);
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
        Assert.Equal("RuntimeDefault", Pod.SecurityContext.SeccompProfile.Type);

        // Root only for the kubelet's directory, and the manifest says why.
        Assert.Equal(0, security.RunAsUser);
        Assert.Matches(@"#[^\n]*kubelet's device-plugins directory[^\n]*root", Text.Value);

        Assert.NotEqual(true, Pod.HostNetwork);
        Assert.NotEqual(true, Pod.HostPID);
        Assert.NotEqual(true, Pod.HostIPC);
    }

    [Fact]
    public void Every_mount_has_its_host_path_type_and_only_what_the_plugin_writes_is_writable()
    {
        var volumes = Pod.Volumes.ToDictionary(v => v.Name);
        var mounts = Container.VolumeMounts.Select(m =>
        {
            var volume = volumes[m.Name];
            return (m.MountPath, ReadOnly: m.ReadOnlyProperty == true, Host: volume.HostPath?.Path ?? $"configMap:{volume.ConfigMap?.Name}", volume.HostPath?.Type);
        });

        Assert.Equal(
            [
                ("/var/lib/kubelet/device-plugins", false, "/var/lib/kubelet/device-plugins", "Directory"),
                ("/sys", true, "/sys", "Directory"),
                ("/host/dev", true, "/dev", "Directory"),
                ("/var/run/cdi", false, "/var/run/cdi", "DirectoryOrCreate"),
                ("/etc/device-plugin", true, "configMap:device-plugin-config", null),
                ("/var/lib/kubelet/pod-resources", true, "/var/lib/kubelet/pod-resources", "Directory"),
                ("/etc/kubernetes/node-feature-discovery/features.d", false, "/etc/kubernetes/node-feature-discovery/features.d", "DirectoryOrCreate"),
            ],
            mounts.ToArray());
        Assert.Equal(Container.VolumeMounts.Count, volumes.Count);

        // The host's /dev is read at another path; the kubelet is still given /dev/... paths.
        Assert.Equal("/host/dev", Env("DP_DEV_ROOT"));
        Assert.Equal("/var/lib/kubelet/device-plugins", Env("DP_KUBELET_DIR"));
    }

    [Fact]
    public void Nvml_comes_through_the_nvidia_runtime_and_the_driver_root_alternative_is_documented()
    {
        Assert.Equal("nvidia", Pod.RuntimeClassName);
        Assert.Matches(@"#\s*- \{ name: DP_DRIVER_ROOT, value: /driver-root \}", Text.Value);
        Assert.Matches(@"#\s*- \{ name: driver-root, mountPath: /driver-root, readOnly: true \}", Text.Value);
        Assert.Matches(@"#\s*- \{ name: driver-root, hostPath: \{ path: /, type: Directory \} \}", Text.Value);
        Assert.Contains("/run/nvidia/driver", Text.Value, StringComparison.Ordinal);
    }

    [Fact]
    public void It_tolerates_the_accelerator_taints_but_not_everything()
    {
        Assert.All(Pod.Tolerations, t => Assert.False(string.IsNullOrEmpty(t.Key), "a toleration without a key tolerates every taint"));
        Assert.Equal(
            ["CriticalAddonsOnly", "amd.com/gpu", "intel.com/fpga", "nvidia.com/gpu", "xilinx.com/fpga-user"],
            Pod.Tolerations.Select(t => t.Key).Order(StringComparer.Ordinal));
        Assert.All(Pod.Tolerations, t => Assert.Equal("Exists", t.OperatorProperty));
    }

    [Fact]
    public void It_is_placed_by_nfd_pci_vendor_labels_with_the_node_selector_alternative_in_a_comment()
    {
        Assert.Null(Pod.NodeSelector);
        var terms = Pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms;
        var keys = terms.Select(t => Assert.Single(t.MatchExpressions)).ToArray();
        Assert.All(keys, e =>
        {
            Assert.Matches(@"^feature\.node\.kubernetes\.io/pci-([0-9a-f]{4}_)?[0-9a-f]{4}\.present$", e.Key);
            Assert.Equal("In", e.OperatorProperty);
            Assert.Equal(["true"], e.Values);
        });
        foreach (var vendor in (string[])["10de", "1002", "10ee", "8086", "1172"])
        {
            Assert.Contains(keys, e => e.Key.EndsWith($"{vendor}.present", StringComparison.Ordinal));
        }

        Assert.Matches(@"#\s*nodeSelector:", Text.Value);
    }

    [Fact]
    public void Probes_priority_rolling_update_and_resources_are_set()
    {
        var port = Assert.Single(Container.Ports);
        Assert.Equal(("metrics", 9410), (port.Name, port.ContainerPort));
        Assert.EndsWith(":9410", Env("DP_METRICS_ADDRESS"), StringComparison.Ordinal);
        Assert.Equal(("/healthz", "metrics"), (Container.LivenessProbe.HttpGet.Path, Container.LivenessProbe.HttpGet.Port.Value));
        Assert.Equal(("/readyz", "metrics"), (Container.ReadinessProbe.HttpGet.Path, Container.ReadinessProbe.HttpGet.Port.Value));

        Assert.Equal("system-node-critical", Pod.PriorityClassName);
        Assert.Equal("RollingUpdate", DaemonSet.Spec.UpdateStrategy.Type);

        // Requests cover the measured idle footprint and burst peak (17.5 and 25 MiB in docs/BENCHMARKS.md, a 31.5 MiB
        // peak in earlier runs); the limit is at least the 64 MiB cgroup that MemoryCgroupTests runs the burst in.
        const long MiB = 1024 * 1024;
        Assert.True(Container.Resources.Requests["memory"].ToInt64() >= 31 * MiB);
        Assert.True(Container.Resources.Limits["memory"].ToInt64() >= 64 * MiB);
        Assert.True(Container.Resources.Requests.ContainsKey("cpu"));
    }

    [Fact]
    public async Task Every_flag_and_dp_variable_it_passes_or_suggests_is_one_help_lists()
    {
        var (code, help, _) = await DaemonProcess.RunAsync(["--help"]);
        Assert.Equal(0, code);
        var flags = FlagPattern().Matches(help).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var variables = VariablePattern().Matches(help).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("--kubelet-dir", flags);
        Assert.Contains("DP_KUBELET_DIR", variables);

        var passed = Container.Env.Select(e => e.Name).Where(n => n.StartsWith("DP_", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(passed);
        Assert.All(passed, n => Assert.Contains(n, variables));
        Assert.All(Container.Env, e => Assert.StartsWith("DP_", e.Name, StringComparison.Ordinal));

        var arguments = (Container.Command ?? []).Concat(Container.Args ?? []).Where(a => a.StartsWith("--", StringComparison.Ordinal));
        Assert.All(arguments, a => Assert.Contains(a.Split('=')[0], flags));

        // The commented alternatives too.
        Assert.All(VariablePattern().Matches(Text.Value).Select(m => m.Value), n => Assert.Contains(n, variables));
    }

    [Fact]
    public void The_config_maps_example_is_a_valid_configuration_once_uncommented()
    {
        var data = Objects.Value.OfType<V1ConfigMap>().Single().Data["config.yaml"];
        Assert.All(data.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("#", l.TrimStart(), StringComparison.Ordinal));
        var uncommented = string.Join('\n', data.Split('\n').Select(l => l.StartsWith("# ", StringComparison.Ordinal) ? l[2..] : l));

        var config = DeviceSources.Schemas.Parse(uncommented, "config.yaml");

        Assert.Equal(["nvidia.com/gpu", "xilinx.com/fpga-user"], config.Resources.Select(r => r.Name));
        Assert.Equal("/etc/device-plugin/config.yaml", Regex.Match(Text.Value, @"DP_CONFIG, value: (\S+) \}").Groups[1].Value);
        Assert.Equal("/etc/device-plugin", Container.VolumeMounts.Single(m => m.Name == "config").MountPath);
    }

    [Theory]
    [InlineData("gpu-pod.yaml", "nvidia.com/gpu")]
    [InlineData("fpga-pod.yaml", "xilinx.com/fpga-user")]
    [InlineData("shared-gpu.yaml", "nvidia.com/gpu")]
    public void Each_example_loads_strictly_and_asks_for_a_resource_the_defaults_advertise(string file, string resource)
    {
        var path = Path.Combine(Path.GetDirectoryName(FindManifest())!, "examples", file);
        var loaded = Assert.Single(KubernetesYaml.LoadAllFromString(File.ReadAllText(path), new Dictionary<string, Type>
        {
            ["v1/Pod"] = typeof(V1Pod),
            ["apps/v1/Deployment"] = typeof(V1Deployment),
        }, strict: true));
        var pod = loaded switch
        {
            V1Pod p => p.Spec,
            V1Deployment d => d.Spec.Template.Spec,
            _ => throw new InvalidOperationException($"{file}: unexpected {loaded.GetType().Name}"),
        };

        var limits = Assert.Single(pod.Containers).Resources.Limits;
        Assert.Equal(1, limits[resource].ToInt64());
        Assert.Contains(resource, DeviceSources.DefaultConfig().Resources.Select(r => r.Name));
        Assert.Contains(pod.Tolerations, t => t.Key == resource);
    }

    private static string Env(string name) => Container.Env.Single(e => e.Name == name).Value;

    [GeneratedRegex(@"^\s+(--[a-z][a-z-]*)", RegexOptions.Multiline)]
    private static partial Regex FlagPattern();

    [GeneratedRegex(@"DP_[A-Z][A-Z_]*[A-Z]")]
    private static partial Regex VariablePattern();

    private static string FindManifest()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "daemonset.yaml");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "DevicePlugin.sln")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("daemonset.yaml not found above " + AppContext.BaseDirectory);
    }
}
