using DevicePlugin.Inventory;

namespace DevicePlugin.Health;

/// <summary>
/// The recovery rule shared by every source: a device is unhealthy while any of its fault conditions holds, and
/// stays unhealthy until no fault has been seen for <c>recoverAfter</c> (zero: never recovers). Faults are either
/// conditions (observed while they hold: driver unbound, node missing) or events (an XID, an AER rise).
/// Thread-safe. Time comes from the injected <see cref="TimeProvider"/>, so tests need no sleeps.
/// </summary>
public sealed class FaultLedger(TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Records a one-off fault (an XID, a rise of the fatal AER count) for the device.</summary>
    public void RecordEvent(string deviceId, string reason)
    {
        lock (_lock)
        {
            var e = Get(deviceId);
            e.LastFault = time.GetUtcNow();
            e.LastReason = reason;
            e.EverFaulted = true;
        }
    }

    /// <summary>
    /// Records whether a fault condition holds now. While it holds, each call counts as a fault seen now;
    /// when it no longer holds, the quiet period runs from the last time it was seen.
    /// </summary>
    public void ObserveCondition(string deviceId, string condition, bool holds)
    {
        lock (_lock)
        {
            if (!holds && !_entries.ContainsKey(deviceId))
            {
                return;
            }

            var e = Get(deviceId);
            if (holds)
            {
                e.ActiveConditions.Add(condition);
                e.LastFault = time.GetUtcNow();
                e.LastReason = condition;
                e.EverFaulted = true;
            }
            else
            {
                e.ActiveConditions.Remove(condition);
            }
        }
    }

    /// <summary>Health of the device under the recovery rule, with the reason when unhealthy.</summary>
    public DeviceHealth Evaluate(string deviceId, TimeSpan recoverAfter, out string? reason)
    {
        lock (_lock)
        {
            reason = null;
            if (!_entries.TryGetValue(deviceId, out var e) || !e.EverFaulted)
            {
                return DeviceHealth.Healthy;
            }

            if (e.ActiveConditions.Count > 0)
            {
                reason = string.Join(", ", e.ActiveConditions.Order(StringComparer.Ordinal));
                return DeviceHealth.Unhealthy;
            }

            if (recoverAfter > TimeSpan.Zero && time.GetUtcNow() - e.LastFault >= recoverAfter)
            {
                _entries.Remove(deviceId);
                return DeviceHealth.Healthy;
            }

            reason = $"{e.LastReason} (recovering)";
            return DeviceHealth.Unhealthy;
        }
    }

    /// <summary>Forgets a device that is gone from the node.</summary>
    public void Forget(string deviceId)
    {
        lock (_lock)
        {
            _entries.Remove(deviceId);
        }
    }

    private Entry Get(string id)
    {
        if (!_entries.TryGetValue(id, out var e))
        {
            e = new Entry();
            _entries[id] = e;
        }

        return e;
    }

    private sealed class Entry
    {
        public HashSet<string> ActiveConditions { get; } = new(StringComparer.Ordinal);

        public DateTimeOffset LastFault { get; set; }

        public string LastReason { get; set; } = "";

        public bool EverFaulted { get; set; }
    }
}
