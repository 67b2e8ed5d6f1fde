namespace DevicePlugin.Allocation;

/// <summary>A request the plugin refuses: what kind of refusal, and a message naming the ID.</summary>
public sealed class AllocationException(AllocationErrorKind kind, string message) : Exception(message)
{
    public AllocationErrorKind Kind { get; } = kind;
}
