namespace DevicePlugin.Inventory;

/// <summary>How Allocate names devices to the container runtime (per resource, config key <c>naming</c>).</summary>
public enum DeviceNaming
{
    /// <summary>Environment and device specs (the default).</summary>
    Env,
    /// <summary>CDI device names in <c>cdi_devices</c> only.</summary>
    Cdi,
    /// <summary>Both: environment, device specs and CDI device names.</summary>
    Both,
}
