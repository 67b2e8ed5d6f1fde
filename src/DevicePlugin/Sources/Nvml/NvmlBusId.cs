using System.Globalization;

namespace DevicePlugin.Sources.Nvml;

/// <summary>Converts NVML's bus IDs (<c>00000000:3B:00.0</c>) to the form sysfs names devices by (<c>0000:3b:00.0</c>).</summary>
internal static class NvmlBusId
{
    /// <summary>
    /// The sysfs form of an NVML bus ID: domain as at least 4 lower-case hex digits, then bus, device and function
    /// lower-cased. False when the text is not <c>domain:bus:device.function</c> in hex.
    /// </summary>
    public static bool TryToSysfs(string busId, out string address)
    {
        address = "";
        var parts = busId.Trim().Split(':');
        if (parts.Length != 3 || parts[2].Length != 4 || parts[2][2] != '.')
        {
            return false;
        }

        if (!uint.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain)
            || !byte.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bus)
            || parts[1].Length != 2
            || !byte.TryParse(parts[2].AsSpan(0, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var device)
            || device > 0x1f
            || parts[2][3] is < '0' or > '7')
        {
            return false;
        }

        address = string.Create(CultureInfo.InvariantCulture, $"{domain:x4}:{bus:x2}:{device:x2}.{parts[2][3]}");
        return true;
    }
}
