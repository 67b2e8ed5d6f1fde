using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;

namespace DevicePlugin.Pipeline;

/// <summary>
/// What the manager serves at this moment: the merged inventory and the running servers. Written only by the
/// <see cref="ResourceManager"/>, read by anyone (the metrics at scrape time, readiness) without a reference to the
/// manager, so the metrics can be built before the manager that reports to them.
/// </summary>
public sealed class ServingView
{
    private volatile InventoryState _state = InventoryState.Empty;
    private volatile ResourceServer[] _servers = [];

    /// <summary>The merged inventory as last published by the sources and joined with the policies.</summary>
    public InventoryState State
    {
        get => _state;
        internal set => _state = value;
    }

    /// <summary>The running servers.</summary>
    public IReadOnlyList<ResourceServer> Servers => _servers;

    internal void SetServers(IEnumerable<ResourceServer> servers) => _servers = [.. servers];
}
