namespace DevicePlugin.Tests.TestSupport;

/// <summary>Waits for a condition that the code under test makes true on its own threads (no fixed sleeps).</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }

            await Task.Yield();
            await Task.Delay(10, CancellationToken.None);
        }
    }

    /// <summary>Calls <paramref name="read"/> until its value satisfies <paramref name="condition"/>; returns that value.</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var value = await read();
            if (condition(value))
            {
                return value;
            }

            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out; last value: {value}");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }
}
