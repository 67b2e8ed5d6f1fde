namespace DevicePlugin.Api;

/// <summary>
/// A task that completes at the next <see cref="Notify"/>; waiters take <see cref="Next"/>, re-read the state it
/// guards, and wait again. Shared by the daemon (snapshot feeds, the resource manager) and the kubelet emulator.
/// </summary>
public sealed class ChangeSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next notification (take it before reading the state it guards).</summary>
    public Task Next
    {
        get
        {
            lock (_lock)
            {
                return _next.Task;
            }
        }
    }

    public void Notify()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }
}
