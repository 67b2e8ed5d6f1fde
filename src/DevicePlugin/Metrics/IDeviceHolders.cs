namespace DevicePlugin.Metrics;

/// <summary>One container holding one advertised device ID, as the kubelet's PodResources API lists it.</summary>
public readonly record struct DeviceHolder(string Resource, string DeviceId, string Namespace, string Pod, string Container);

/// <summary>Which containers hold which devices, for the pod series on /metrics and the health log lines.</summary>
public interface IDeviceHolders
{
    /// <summary>True while the last List call answered.</summary>
    bool Up { get; }

    /// <summary>The holders from the last answer; empty while <see cref="Up"/> is false.</summary>
    IReadOnlyList<DeviceHolder> Holders { get; }

    /// <summary>Asks the kubelet again when the last answer is older than the poll period; never throws.</summary>
    Task RefreshIfStaleAsync(CancellationToken cancellationToken);
}
