namespace DevicePlugin.Inventory;

/// <summary>
/// Text that came from outside (a device ID in a kubelet request, a value in the config file) as it may appear in a
/// status message or a log line: at most <see cref="MaxQuoted"/> characters, then <c>…</c>. A request can carry IDs
/// of megabytes; echoing them whole makes log lines as long and, in a gRPC status, trailers too large for the client
/// (the call, and every later call on its HTTP/2 connection, then hangs).
/// </summary>
public static class ClientText
{
    /// <summary>The longest device ID accepted anywhere (config file and requests); also the most of any outside text quoted.</summary>
    public const int MaxDeviceIdLength = 128;

    /// <summary>How many characters of outside text a message quotes.</summary>
    public const int MaxQuoted = MaxDeviceIdLength;

    /// <summary><paramref name="text"/> itself when short enough, else its first <see cref="MaxQuoted"/> characters and <c>…</c>.</summary>
    public static string Quote(string text) =>
        text.Length <= MaxQuoted ? text : string.Concat(text.AsSpan(0, char.IsHighSurrogate(text[MaxQuoted - 1]) ? MaxQuoted - 1 : MaxQuoted), "…");
}
