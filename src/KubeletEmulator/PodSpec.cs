namespace DevicePlugin.KubeletEmulator;

/// <summary>
/// A pod as the emulated kubelet admits it: init containers run first, in order, then the app containers. Only
/// extended-resource limits matter here (a device plugin sees nothing else).
/// </summary>
/// <example>
/// <code>
/// var pod = new PodSpec("trainer")
/// {
///     InitContainers = { new ContainerSpec("warm-up") { Limits = { ["example.com/gpu"] = 1 } } },
///     Containers = { new ContainerSpec("main") { Limits = { ["example.com/gpu"] = 2 } } },
/// };
/// </code>
/// </example>
public sealed class PodSpec
{
    /// <summary>Creates a pod named <paramref name="name"/> in <paramref name="namespace"/>.</summary>
    public PodSpec(string name, string @namespace = "default")
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        Name = name;
        Namespace = @namespace;
    }

    /// <summary>The pod's name (PodResources reports it as <c>name</c>).</summary>
    public string Name { get; }

    /// <summary>The pod's namespace.</summary>
    public string Namespace { get; }

    /// <summary>Init containers, admitted before the app containers and in this order.</summary>
    public IList<ContainerSpec> InitContainers { get; } = new List<ContainerSpec>();

    /// <summary>App containers, admitted in this order.</summary>
    public IList<ContainerSpec> Containers { get; } = new List<ContainerSpec>();

    /// <summary>A pod with one app container named <c>main</c> that requests <paramref name="count"/> of <paramref name="resourceName"/>.</summary>
    public static PodSpec WithDevices(string name, string resourceName, int count, string @namespace = "default") =>
        new(name, @namespace) { Containers = { new ContainerSpec("main") { Limits = { [resourceName] = count } } } };
}

/// <summary>One container of a <see cref="PodSpec"/>.</summary>
public sealed class ContainerSpec
{
    /// <summary>Creates a container named <paramref name="name"/>.</summary>
    public ContainerSpec(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The container's name, unique within its pod.</summary>
    public string Name { get; }

    /// <summary>Extended-resource limits: resource name to device count.</summary>
    public IDictionary<string, int> Limits { get; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>
    /// For an init container: a sidecar (<c>restartPolicy: Always</c>). It keeps its devices (they are not reused by
    /// later containers) and PodResources lists it, before the app containers.
    /// </summary>
    public bool Restartable { get; init; }

    /// <summary>
    /// A NUMA affinity for this container's devices, as the Topology Manager would hand the device manager; it
    /// overrides the hint the emulator computes under <see cref="EmulatedKubelet.TopologyPolicy"/>. Null: no explicit hint.
    /// </summary>
    public IReadOnlyList<long>? NumaAffinity { get; init; }
}
