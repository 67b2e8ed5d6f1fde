namespace DevicePlugin.Tests.TestSupport;

/// <summary>
/// A clock that moves only when a test says so (timers are the system's: none of our code needs them to follow this
/// clock). <see cref="ThrowOnNextRead"/> injects a fault into whatever reads the clock next.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private DateTimeOffset _now = start;
    private Exception? _throwOnce;

    public ManualTimeProvider() : this(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            if (_throwOnce is { } fault)
            {
                _throwOnce = null;
                throw fault;
            }

            return _now;
        }
    }

    /// <summary>The next reading of the clock, whoever makes it, throws <paramref name="fault"/> (once).</summary>
    public void ThrowOnNextRead(Exception fault)
    {
        lock (_lock)
        {
            _throwOnce = fault;
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _now += by;
        }
    }
}
