using System.Text;

namespace DevicePlugin.NodeFeatures;

/// <summary>
/// Kubernetes' label rules as nfd-master applies them: a name of at most 63 characters,
/// <c>[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?</c>, after a prefix that is a DNS subdomain of at most 253 characters;
/// a value of at most 63 characters of the same pattern, or empty. Prefixes nfd-master denies
/// (<c>kubernetes.io</c> and its sub-domains other than <c>feature.node.kubernetes.io</c> and
/// <c>profile.node.kubernetes.io</c>) are refused too.
/// </summary>
public static class FeatureLabel
{
    public const int MaxNameLength = 63;
    public const int MaxPrefixLength = 253;
    public const int MaxValueLength = 63;

    public static bool IsValidName(string name) => name.Length <= MaxNameLength && IsNamePattern(name);

    public static bool IsValidValue(string value) => value.Length == 0 || (value.Length <= MaxValueLength && IsNamePattern(value));

    /// <summary>True for <c>prefix/name</c> with a valid, allowed prefix and a valid name (a prefix is required).</summary>
    public static bool IsValidKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && IsValidPrefix(key[..slash]) && IsValidName(key[(slash + 1)..]);
    }

    public static bool IsValidPrefix(string prefix)
    {
        if (prefix.Length > MaxPrefixLength || prefix.Split('.').Any(l => !IsDnsLabel(l)))
        {
            return false;
        }

        var denied = prefix == "kubernetes.io" || prefix.EndsWith(".kubernetes.io", StringComparison.Ordinal);
        var allowed = IsUnder(prefix, "feature.node.kubernetes.io") || IsUnder(prefix, "profile.node.kubernetes.io");
        return !denied || allowed;
    }

    /// <summary>
    /// Makes a value valid: characters outside <c>[-A-Za-z0-9_.]</c> become <c>-</c> (spaces included), leading and
    /// trailing characters that are not letters or digits are dropped, and the result is cut to 63 characters (and
    /// trimmed again).
    /// </summary>
    public static string SanitizeValue(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            text.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
        }

        var s = TrimToAlphanumeric(text.ToString());
        return s.Length <= MaxValueLength ? s : TrimToAlphanumeric(s[..MaxValueLength]);
    }

    /// <summary>Makes the name part of a key valid the same way; null when nothing valid is left.</summary>
    public static string? SanitizeKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IsValidPrefix(key[..slash].ToLowerInvariant()))
        {
            return null;
        }

        var name = SanitizeValue(key[(slash + 1)..]);
        return name.Length == 0 ? null : key[..slash].ToLowerInvariant() + "/" + name;
    }

    private static string TrimToAlphanumeric(string s)
    {
        var start = 0;
        var end = s.Length;
        while (start < end && !char.IsAsciiLetterOrDigit(s[start]))
        {
            start++;
        }

        while (end > start && !char.IsAsciiLetterOrDigit(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    private static bool IsNamePattern(string s) =>
        s.Length > 0
        && char.IsAsciiLetterOrDigit(s[0])
        && char.IsAsciiLetterOrDigit(s[^1])
        && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static bool IsDnsLabel(string label) =>
        label.Length is > 0 and <= 63
        && (char.IsAsciiLetterLower(label[0]) || char.IsAsciiDigit(label[0]))
        && (char.IsAsciiLetterLower(label[^1]) || char.IsAsciiDigit(label[^1]))
        && label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    private static bool IsUnder(string prefix, string domain) =>
        prefix == domain || prefix.EndsWith("." + domain, StringComparison.Ordinal);
}
