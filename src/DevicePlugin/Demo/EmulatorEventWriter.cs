using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DevicePlugin.Demo;

/// <summary>
/// Prints the kubelet emulator's events, one per line: <c>text</c> (<c>event key=value … at=HH:mm:ss.fff</c>) or
/// <c>json</c> (one object per line: <c>time</c>, <c>event</c>, then the fields). Empty fields are left out.
/// Field values are strings, numbers, booleans, string lists, string maps, or lists of such maps.
/// </summary>
public sealed class EmulatorEventWriter(TextWriter output, bool json, TimeProvider? time = null)
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public void Write(string name, params (string Key, object? Value)[] fields)
    {
        var kept = fields.Where(f => !IsEmpty(f.Value)).ToArray();
        var now = _time.GetUtcNow();
        var line = json ? Json(now, name, kept) : Text(now, name, kept);
        lock (_lock)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    private static bool IsEmpty(object? value) => value switch
    {
        null => true,
        string s => s.Length == 0,
        System.Collections.ICollection c => c.Count == 0,
        _ => false,
    };

    private static string Text(DateTimeOffset now, string name, (string Key, object? Value)[] fields)
    {
        var text = new StringBuilder(name);
        foreach (var (key, value) in fields)
        {
            text.Append(' ').Append(key).Append('=').Append(TextValue(value!));
        }

        return text.Append(" at=").Append(now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)).ToString();
    }

    /// <summary>A value as text, in double quotes when it holds a space.</summary>
    private static string TextValue(object value)
    {
        var text = RawText(value);
        return text.Contains(' ', StringComparison.Ordinal) ? $"\"{text}\"" : text;
    }

    private static string RawText(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        IReadOnlyDictionary<string, string> map => string.Join(",", map.Select(e => $"{e.Key}={e.Value}")),
        IReadOnlyList<string> list => string.Join(",", list),
        IReadOnlyList<IReadOnlyDictionary<string, string>> maps => string.Join(" ", maps.Select(MapText)),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A device as <c>id=Health@numaN</c>; any other map as its values joined by ':'.</summary>
    private static string MapText(IReadOnlyDictionary<string, string> map) =>
        map.TryGetValue("id", out var id) && map.TryGetValue("health", out var health)
            ? $"{id}={health}" + (map.TryGetValue("numa", out var numa) ? $"@numa{numa}" : "")
            : string.Join(":", map.Values);

    private static string Json(DateTimeOffset now, string name, (string Key, object? Value)[] fields)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("time", now.ToString("O", CultureInfo.InvariantCulture));
            writer.WriteString("event", name);
            foreach (var (key, value) in fields)
            {
                writer.WritePropertyName(key);
                WriteValue(writer, value!);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteValue(Utf8JsonWriter writer, object value)
    {
        switch (value)
        {
            case string s:
                writer.WriteStringValue(s);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            case int i:
                writer.WriteNumberValue(i);
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case double d:
                writer.WriteNumberValue(d);
                break;
            case IReadOnlyDictionary<string, string> map:
                writer.WriteStartObject();
                foreach (var (k, v) in map)
                {
                    writer.WriteString(k, v);
                }

                writer.WriteEndObject();
                break;
            case IReadOnlyList<string> list:
                writer.WriteStartArray();
                foreach (var item in list)
                {
                    writer.WriteStringValue(item);
                }

                writer.WriteEndArray();
                break;
            case IReadOnlyList<IReadOnlyDictionary<string, string>> maps:
                writer.WriteStartArray();
                foreach (var map in maps)
                {
                    WriteValue(writer, map);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteStringValue(value.ToString());
                break;
        }
    }
}
