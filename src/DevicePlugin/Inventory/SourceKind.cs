namespace DevicePlugin.Inventory;

/// <summary>Where a resource's devices come from (the <c>source</c> key of a resource in the config file).</summary>
public enum SourceKind
{
    Simulated,
    Nvml,
    Pci,
}

public static class SourceKindNames
{
    public static string ToConfigName(this SourceKind kind) => kind switch
    {
        SourceKind.Simulated => "simulated",
        SourceKind.Nvml => "nvml",
        SourceKind.Pci => "pci",
        _ => kind.ToString(),
    };

    public static bool TryParse(string text, out SourceKind kind)
    {
        switch (text)
        {
            case "simulated": kind = SourceKind.Simulated; return true;
            case "nvml": kind = SourceKind.Nvml; return true;
            case "pci": kind = SourceKind.Pci; return true;
            default: kind = default; return false;
        }
    }
}
