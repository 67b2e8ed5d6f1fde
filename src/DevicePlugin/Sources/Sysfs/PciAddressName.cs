using System.Globalization;

namespace DevicePlugin.Sources.Sysfs;

/// <summary>PCI addresses as sysfs names them: <c>DDDD:BB:DD.F</c>, lower-case hex (the domain may be longer, as with VMD).</summary>
public static class PciAddressName
{
    /// <summary>True when the name is a PCI function address such as <c>0000:3b:00.1</c>.</summary>
    public static bool IsPciAddress(ReadOnlySpan<char> name)
    {
        // domain (4+ hex) ':' bus (2 hex) ':' device (2 hex, 00-1f) '.' function (0-7)
        var firstColon = name.IndexOf(':');
        if (firstColon < 4 || name.Length != firstColon + 8)
        {
            return false;
        }

        return IsHex(name[..firstColon])
            && name[firstColon + 3] == ':'
            && IsHex(name.Slice(firstColon + 1, 2))
            && IsHex(name.Slice(firstColon + 4, 2))
            && name[firstColon + 4] is >= '0' and <= '1' // a device number has 5 bits: 00-1f
            && name[firstColon + 6] == '.'
            && name[firstColon + 7] is >= '0' and <= '7';
    }

    /// <summary>
    /// Turns an address as NVML or a user writes it (<c>00000000:3B:00.0</c>) into the sysfs name (<c>0000:3b:00.0</c>).
    /// Returns null when the text is not a PCI address.
    /// </summary>
    public static string? Normalize(string address)
    {
        var lower = address.Trim().ToLowerInvariant();
        var firstColon = lower.IndexOf(':');
        if (firstColon > 4
            && uint.TryParse(lower.AsSpan(0, firstColon), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain))
        {
            // The kernel prints the domain with "%04x": drop NVML's extra leading zeros.
            lower = domain.ToString("x4", CultureInfo.InvariantCulture) + lower[firstColon..];
        }

        return IsPciAddress(lower) ? lower : null;
    }

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }
}
