namespace DevicePlugin.Kubelet;

/// <summary>Where a resource server stands with the kubelet.</summary>
public enum RegistrationState
{
    /// <summary>Not registered yet (starting, or the kubelet is away and we are retrying).</summary>
    Pending,
    Registered,
    /// <summary>The last Register failed; a retry is scheduled.</summary>
    Failed,
}
