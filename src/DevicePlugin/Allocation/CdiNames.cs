namespace DevicePlugin.Allocation;

/// <summary>CDI device naming: <c>vendor.com/class=name</c>, with the name limited to CDI's character set.</summary>
public static class CdiNames
{
    public static string Qualified(string kind, string deviceId) => $"{kind}={DeviceName(deviceId)}";

    /// <summary>A CDI device name for a physical ID: letters, digits, '_', '-', '.', ':' kept, others turned into '_'.</summary>
    public static string DeviceName(string deviceId) =>
        string.Create(deviceId.Length, deviceId, static (span, id) =>
        {
            for (var i = 0; i < id.Length; i++)
            {
                var c = id[i];
                span[i] = char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':' ? c : '_';
            }
        });
}
