using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Metrics;

/// <summary>
/// Follows every resource's snapshots and, for each physical device whose health changed, counts the transition
/// (<c>device_plugin_device_health_transitions_total</c>) and writes one log line with the cause and, when the
/// PodResources API names one, the pod holding the device. The cause is the kind of the last fault the source
/// reported for the device; a simulated device changes by configuration, and a device becoming healthy recovered.
/// Runs on the resource manager's loop.
/// </summary>
public sealed class DeviceHealthTracker(PluginMetrics metrics, ILogger<DeviceHealthTracker> logger) : IResourceObserver
{
    public const string RecoveredCause = "recovered";
    public const string ConfigCause = "config";
    public const string UnknownCause = "unknown";

    private readonly Dictionary<string, ResourceSnapshot> _last = new(StringComparer.Ordinal);

    public void ResourceChanged(ResourceSnapshot snapshot)
    {
        _last.TryGetValue(snapshot.ResourceName, out var before);
        if (ReferenceEquals(before, snapshot))
        {
            return;
        }

        _last[snapshot.ResourceName] = snapshot;
        var old = before?.Devices.ToDictionary(d => d.Id, StringComparer.Ordinal);
        foreach (var d in snapshot.Devices)
        {
            PhysicalDevice? previous = null;
            if (old is not null && old.TryGetValue(d.Id, out previous) && previous.Health == d.Health)
            {
                continue;
            }

            if (previous is null && d.Health == DeviceHealth.Healthy)
            {
                // A device seen for the first time, healthy: nothing changed for anyone.
                continue;
            }

            var cause = CauseOf(snapshot.Source, d);
            if (previous is not null)
            {
                metrics.HealthTransition(snapshot.ResourceName, d.Id, d.Health, cause);
            }

            var holders = HoldersOf(snapshot, d.Id);
            if (d.Health == DeviceHealth.Healthy)
            {
                MetricsLog.DeviceRecovered(logger, snapshot.ResourceName, d.Id, cause, holders);
            }
            else
            {
                MetricsLog.DeviceUnhealthy(logger, snapshot.ResourceName, d.Id, cause, d.UnhealthyReason ?? "no reason given", holders);
            }
        }
    }

    public void ResourceRemoved(string resourceName) => _last.Remove(resourceName);

    public void Shutdown() => _last.Clear();

    private string CauseOf(SourceKind source, PhysicalDevice device)
    {
        var fault = metrics.TakeCause(device.Id);
        if (source.HealthFromConfiguration)
        {
            return ConfigCause;
        }

        return device.Health == DeviceHealth.Healthy ? RecoveredCause : fault ?? UnknownCause;
    }

    private string HoldersOf(ResourceSnapshot snapshot, string device)
    {
        if (metrics.Holders is not { Up: true } holders)
        {
            return "holder unknown (PodResources not answering)";
        }

        var names = holders.Holders
            .Where(h => h.Resource == snapshot.ResourceName && PluginMetrics.PhysicalIdOf(snapshot, h.DeviceId) == device)
            .Select(h => $"{h.Namespace}/{h.Pod}/{h.Container}")
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        return names.Length == 0 ? "held by no pod" : "held by " + string.Join(", ", names);
    }
}
