namespace DevicePlugin.Sources;

/// <summary>
/// Where the host's trees are when no flag moves them: the defaults of <c>--sysfs-root</c>, <c>--dev-root</c> and
/// <c>--proc-root</c>, defined here once for the flags and every source's options.
/// </summary>
public static class HostPathDefaults
{
    public const string SysfsRoot = "/sys";

    public const string DevRoot = "/dev";

    public const string ProcRoot = "/proc";
}
