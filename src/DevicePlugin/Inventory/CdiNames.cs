namespace DevicePlugin.Inventory;

/// <summary>CDI device naming: <c>vendor.com/class=name</c>, with the name limited to CDI's character set.</summary>
public static class CdiNames
{
    private static readonly System.Buffers.SearchValues<char> DeviceNameCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:");

    private static readonly System.Buffers.SearchValues<char> KindCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.");

    public static string Qualified(string kind, string deviceId) => $"{kind}={DeviceName(deviceId)}";

    /// <summary>A CDI device name for a physical ID: letters, digits, '_', '-', '.', ':' kept, others turned into '_'.</summary>
    public static string DeviceName(string deviceId) =>
        CharacterMap.Map(deviceId, static c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':' ? c : '_');

    /// <summary>
    /// CDI's rule for a device name: starts and ends with a letter or digit, only letters, digits, '_', '-', '.', ':'.
    /// (A leading digit needs CDI spec 0.5.0.)
    /// </summary>
    public static bool IsValidDeviceName(string name) =>
        name.Length > 0
        && char.IsAsciiLetterOrDigit(name[0])
        && char.IsAsciiLetterOrDigit(name[^1])
        && name.AsSpan().IndexOfAnyExcept(DeviceNameCharacters) < 0;

    /// <summary>
    /// Checks a CDI kind (<c>vendor/class</c>): each part starts with a letter, ends with a letter or digit and holds
    /// only letters, digits, '_', '-', '.'. Returns null when valid, else what is wrong.
    /// </summary>
    public static string? KindProblem(string kind)
    {
        var slash = kind.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == kind.Length - 1)
        {
            return $"CDI kind \"{kind}\" is not of the form vendor/class";
        }

        return PartProblem(kind, kind[..slash], "vendor") ?? PartProblem(kind, kind[(slash + 1)..], "class");
    }

    private static string? PartProblem(string kind, string part, string what)
    {
        if (!char.IsAsciiLetter(part[0]))
        {
            return $"CDI kind \"{kind}\": the {what} \"{part}\" must start with a letter";
        }

        if (!char.IsAsciiLetterOrDigit(part[^1]))
        {
            return $"CDI kind \"{kind}\": the {what} \"{part}\" must end with a letter or digit";
        }

        return part.AsSpan().IndexOfAnyExcept(KindCharacters) is var bad and >= 0
            ? $"CDI kind \"{kind}\": the {what} \"{part}\" has the character '{part[bad]}' (allowed: letters, digits, '_', '-', '.')"
            : null;
    }
}
