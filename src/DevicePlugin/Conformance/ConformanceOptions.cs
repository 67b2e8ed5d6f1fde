namespace DevicePlugin.Conformance;

/// <summary>What <c>device-plugin conformance</c> checks and how long it waits.</summary>
public sealed class ConformanceOptions
{
    /// <summary>The device plugin directory where the checker plays the kubelet (<c>DIR/kubelet.sock</c>).</summary>
    public required string KubeletDirectory { get; init; }

    /// <summary>The resources to check; empty: every resource that registers (or tries to) within the discovery window.</summary>
    public IReadOnlyList<string> Resources { get; init; } = [];

    /// <summary>Also restart the kubelet (socket wipe) and check re-registration.</summary>
    public bool Disruptive { get; init; }

    /// <summary>Where host paths of device specs and mounts are looked for (a plugin in a container: its host mount).</summary>
    public string HostRoot { get; init; } = "/";

    /// <summary>How long to wait for the first registration (or each named resource's).</summary>
    public TimeSpan RegistrationTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>With no resources named: how long after the first Register call to wait for others.</summary>
    public TimeSpan DiscoveryWindow { get; init; } = TimeSpan.FromSeconds(3);
}
