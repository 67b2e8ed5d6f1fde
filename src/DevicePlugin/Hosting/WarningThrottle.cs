namespace DevicePlugin.Hosting;

/// <summary>
/// Rate-limits a repeated warning (a retry failing again): it is logged when its reason changes or when
/// <c>interval</c> has passed since it was last logged; the ones in between are counted, and the count goes out with
/// the next one logged.
/// </summary>
internal sealed class WarningThrottle(TimeSpan interval)
{
    private readonly Lock _lock = new();
    private string? _lastReason;
    private DateTimeOffset _lastLogged;
    private int _suppressed;

    /// <summary>True when this occurrence is to be logged; <paramref name="suppressed"/> is how many were not since the last.</summary>
    public bool ShouldLog(string reason, DateTimeOffset now, out int suppressed)
    {
        lock (_lock)
        {
            if (!string.Equals(reason, _lastReason, StringComparison.Ordinal) || now - _lastLogged >= interval)
            {
                suppressed = _suppressed;
                _suppressed = 0;
                _lastReason = reason;
                _lastLogged = now;
                return true;
            }

            _suppressed++;
            suppressed = 0;
            return false;
        }
    }

    /// <summary>Forgets the last warning: the next occurrence is logged whatever its reason.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _lastReason = null;
            _suppressed = 0;
        }
    }
}
