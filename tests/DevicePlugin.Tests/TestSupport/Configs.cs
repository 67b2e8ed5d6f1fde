namespace DevicePlugin.Tests.TestSupport;

/// <summary>Config files used across integration tests.</summary>
public static class Configs
{
    public const string Gpu = "example.com/gpu";

    /// <summary>Four simulated devices on two NUMA nodes, one without a known node.</summary>
    public static string Simulated(string sim1Health = "Healthy", int replicas = 1, bool preStart = false, string extra = "") => $"""
        resources:
          - name: {Gpu}
            source: simulated
            replicas: {replicas}
            preStart: {(preStart ? "true" : "false")}
            devices:
              - id: sim-0
                numa: 0
              - id: sim-1
                numa: 0
                health: {sim1Health}
              - id: sim-2
                numa: 1
              - id: sim-3
                numa: 1
              - id: sim-x
        {extra}
        """;
}
