namespace DevicePlugin.Configuration;

/// <summary>A configuration file that does not validate; the message names the file, line and key.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string file, int line, string key, string problem)
        : base(line > 0 ? $"{file}:{line}: {key}: {problem}" : $"{file}: {key}: {problem}")
    {
        File = file;
        Line = line;
        Key = key;
        Problem = problem;
    }

    public ConfigException() { }

    public ConfigException(string message) : base(message) { }

    public ConfigException(string message, Exception inner) : base(message, inner) { }

    public string File { get; } = "";

    public int Line { get; }

    public string Key { get; } = "";

    public string Problem { get; } = "";
}
