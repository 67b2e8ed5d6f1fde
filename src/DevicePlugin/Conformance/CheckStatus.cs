namespace DevicePlugin.Conformance;

/// <summary>The outcome of one conformance check.</summary>
public enum CheckStatus
{
    Passed,
    Failed,
    Skipped,
}
