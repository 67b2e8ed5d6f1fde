namespace DevicePlugin.Inventory;

/// <summary>
/// The one loop that turns a name into another of the same length, character by character (environment variable
/// names, CDI device names, CDI spec file names).
/// </summary>
public static class CharacterMap
{
    public static string Map(string text, Func<char, char> map) =>
        string.Create(text.Length, (text, map), static (span, state) =>
        {
            for (var i = 0; i < state.text.Length; i++)
            {
                span[i] = state.map(state.text[i]);
            }
        });
}
