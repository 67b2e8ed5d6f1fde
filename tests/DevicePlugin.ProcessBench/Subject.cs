using System.Globalization;
using System.Text;

namespace DevicePlugin.ProcessBench;

/// <summary>A server under measurement: the daemon or the minimal baseline, started for N resources of M devices.</summary>
public abstract class Subject(string name, string executable)
{
    public string Name { get; } = name;

    public string Executable { get; } = executable;

    public static string ResourceName(int index) => $"bench.example.com/r{index}";

    /// <summary>Device IDs are d0 … dM-1 on both servers, so both answer the same Allocate request.</summary>
    public static string DeviceId(int index) => "d" + index.ToString(CultureInfo.InvariantCulture);

    public abstract ServerProcess Start(string workDirectory, string kubeletDirectory, int resources, int devices);
}

/// <summary>The published device-plugin with simulated resources from a config file, metrics endpoint on (as deployed).</summary>
public sealed class DaemonSubject(string executable, IReadOnlyDictionary<string, string> environment, string name = "device-plugin")
    : Subject(name, executable)
{
    public IReadOnlyDictionary<string, string> Environment { get; } = environment;

    public ServerProcess Run(IEnumerable<string> args) => ServerProcess.Start(Executable, args, Environment);

    public override ServerProcess Start(string workDirectory, string kubeletDirectory, int resources, int devices)
    {
        var config = Path.Combine(workDirectory, "config.yaml");
        File.WriteAllText(config, SimulatedConfig(resources, devices));
        return Run(["--kubelet-dir", kubeletDirectory, "--config", config, "--metrics-address", "127.0.0.1:0"]);
    }

    /// <summary>N simulated resources of M devices on two NUMA nodes; <paramref name="unhealthy"/> devices of r0 marked Unhealthy.</summary>
    public static string SimulatedConfig(int resources, int devices, int unhealthy = 0)
    {
        var text = new StringBuilder("resources:\n");
        for (var r = 0; r < resources; r++)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - name: {ResourceName(r)}\n    source: simulated\n    devices:\n");
            for (var d = 0; d < devices; d++)
            {
                var health = r == 0 && d < unhealthy ? "Unhealthy" : "Healthy";
                text.Append(CultureInfo.InvariantCulture, $"      - {{id: {DeviceId(d)}, numa: {d * 2 / devices}, health: {health}}}\n");
            }
        }

        return text.ToString();
    }
}

/// <summary>tests/MinimalPlugin: one slim Kestrel host per resource, a fixed list, no config or metrics.</summary>
public sealed class MinimalSubject(string executable) : Subject("minimal server", executable)
{
    public override ServerProcess Start(string workDirectory, string kubeletDirectory, int resources, int devices) =>
        ServerProcess.Start(Executable, [
            "--kubelet-dir", kubeletDirectory,
            "--resources", resources.ToString(CultureInfo.InvariantCulture),
            "--devices", devices.ToString(CultureInfo.InvariantCulture)]);
}
