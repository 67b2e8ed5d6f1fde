using System.Collections.Immutable;

namespace DevicePlugin.Allocation;

/// <summary>
/// What one container gets for its devices, independent of any wire format: device nodes (host path = container
/// path, each once), environment entries, and fully qualified CDI device names.
/// </summary>
public sealed class ContainerAllocation
{
    public ImmutableArray<string> DeviceNodes { get; init; } = [];

    public ImmutableArray<KeyValuePair<string, string>> Environment { get; init; } = [];

    public ImmutableArray<string> CdiDevices { get; init; } = [];
}
