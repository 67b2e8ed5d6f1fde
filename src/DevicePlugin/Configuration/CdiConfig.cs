using DevicePlugin.Inventory;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Configuration;

/// <summary>The <c>cdi:</c> section: where CDI spec files are written.</summary>
public sealed record CdiConfig
{
    public const string DefaultSpecDirectory = "/var/run/cdi";

    private static readonly string[] Keys = ["specDir"];

    public string SpecDirectory { get; init; } = DefaultSpecDirectory;

    /// <summary>Reads the <c>cdi:</c> section of a configuration file.</summary>
    public static CdiConfig Read(ConfigReader reader, YamlNode node)
    {
        var map = reader.Mapping(node, "cdi");
        reader.KnownKeys(map, Keys, "cdi.");
        if (reader.Get(map, "specDir") is not { } s)
        {
            return new CdiConfig();
        }

        var dir = reader.Text(s, "cdi.specDir");
        if (!Path.IsPathRooted(dir))
        {
            throw reader.Error(s, "cdi.specDir", $"must be an absolute path, not \"{ClientText.Quote(dir)}\"");
        }

        return new CdiConfig { SpecDirectory = dir };
    }
}
