using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Pci;

/// <summary>The environment a container gets for a <c>pci</c> device: <c>PCI_RESOURCE_&lt;NAME&gt;</c> = its PCI address.</summary>
public static class PciEnvironment
{
    /// <summary><c>PCI_RESOURCE_</c> + the resource name upper-cased, every character outside A-Z and 0-9 turned into '_'.</summary>
    public static string VariableFor(string resourceName) => "PCI_RESOURCE_" + ResourceSnapshot.UpperSnake(resourceName);
}
