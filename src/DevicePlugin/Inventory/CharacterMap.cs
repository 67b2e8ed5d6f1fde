namespace DevicePlugin.Inventory;

/// <summary>
/// The one loop that turns a name into another of the same length, character by character (environment variable
/// names, CDI device names, CDI spec file names).
/// </summary>
public static class CharacterMap
{
    /// <summary>
    /// The mapped text; the same string instance when no character changes (the common case: Allocate maps every
    /// requested ID to its CDI name, and most IDs are valid names already).
    /// </summary>
    public static string Map(string text, Func<char, char> map)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (map(text[i]) != text[i])
            {
                return string.Create(text.Length, (text, map, i), static (span, state) =>
                {
                    state.text.AsSpan(0, state.i).CopyTo(span);
                    for (var j = state.i; j < state.text.Length; j++)
                    {
                        span[j] = state.map(state.text[j]);
                    }
                });
            }
        }

        return text;
    }
}
