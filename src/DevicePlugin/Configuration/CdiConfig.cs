namespace DevicePlugin.Configuration;

/// <summary>The <c>cdi:</c> section: where CDI spec files are written.</summary>
public sealed record CdiConfig
{
    public const string DefaultSpecDirectory = "/var/run/cdi";

    public string SpecDirectory { get; init; } = DefaultSpecDirectory;
}
