using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>Gives hand-built devices the environment entry their source would give them.</summary>
public static class DeviceEdits
{
    /// <summary>The device with <paramref name="variable"/> = its ID in its edits (as every built-in source sets).</summary>
    public static PhysicalDevice Sets(this PhysicalDevice device, string variable) => device with { Environment = [new(variable, device.Id)] };
}
