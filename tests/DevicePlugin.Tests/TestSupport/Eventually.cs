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
}
