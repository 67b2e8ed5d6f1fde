using System.Text.RegularExpressions;

namespace DevicePlugin.Api;

/// <summary>The kubelet's rule for extended resource names, shared by config validation and the kubelet emulator.</summary>
public static partial class ResourceNames
{
    /// <summary>Returns null when <paramref name="name"/> is a valid extended resource name, else what is wrong.</summary>
    public static string? Validate(string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash != name.LastIndexOf('/'))
        {
            return $"resource name \"{Quote(name)}\" must have the form domain/name";
        }

        var domain = name[..slash];
        var local = name[(slash + 1)..];
        if (domain == "kubernetes.io" || domain.EndsWith(".kubernetes.io", StringComparison.Ordinal) || domain == "requests")
        {
            return $"resource name \"{Quote(name)}\" may not use the {domain} domain";
        }

        if (domain.Length > 253 || !DomainPattern().IsMatch(domain))
        {
            return $"resource name \"{Quote(name)}\" has an invalid domain \"{Quote(domain)}\" (lower-case DNS subdomain expected)";
        }

        if (local.Length is 0 or > 63 || !NamePattern().IsMatch(local))
        {
            return $"resource name \"{Quote(name)}\" has an invalid name part \"{Quote(local)}\" (at most 63 characters of [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)";
        }

        return null;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex NamePattern();

    /// <summary>At most the first 128 characters of a name from outside, then <c>…</c>: messages stay one short line.</summary>
    private static string Quote(string text) => text.Length <= 128 ? text : string.Concat(text.AsSpan(0, 128), "…");
}
