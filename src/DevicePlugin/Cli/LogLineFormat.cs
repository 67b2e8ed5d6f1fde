using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cli;

/// <summary>
/// One log entry as one line of UTF-8, in the layouts of Microsoft.Extensions.Logging.Console: the simple formatter
/// with <c>SingleLine</c>, a UTC timestamp <c>yyyy-MM-ddTHH:mm:ss.fffZ</c> and no colours (text), and the JSON
/// formatter with the same timestamp (json). <c>LogLineFormatTests</c> compares every line with what those formatters
/// write for the same entry.
/// </summary>
internal static class LogLineFormat
{
    private const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";

    [ThreadStatic]
    private static StringBuilder? t_text;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_json;

    /// <summary>
    /// <c>2026-11-30T15:00:00.123Z info: Category[200] message exception</c>, newlines inside the message and the
    /// exception turned into spaces; null when there is neither message nor exception (the console logger writes nothing then).
    /// </summary>
    public static byte[]? Text(DateTimeOffset now, LogLevel level, string category, int eventId, string? message, Exception? exception)
    {
        if (message is null && exception is null)
        {
            return null;
        }

        var line = t_text ??= new StringBuilder(256);
        line.Clear();
        line.Append(now.ToString(TimestampFormat, CultureInfo.InvariantCulture)).Append(' ')
            .Append(TextLevel(level)).Append(": ").Append(category).Append('[').Append(eventId).Append(']');
        AppendOneLine(line, message);
        AppendOneLine(line, exception?.ToString());
        line.Append('\n');
        var bytes = Encoding.UTF8.GetBytes(line.ToString());
        if (line.Capacity > 4096)
        {
            t_text = null; // an exception's trace made it large: do not keep that buffer per thread
        }

        return bytes;
    }

    /// <summary>
    /// <c>{"Timestamp":…,"EventId":…,"LogLevel":…,"Category":…,"Message":…,["Exception":…,]"State":{each named
    /// value}}</c>, the state's own text in <c>State.Message</c> only where it differs from the message; numbers and booleans in the state
    /// stay JSON numbers and booleans, anything else is its invariant string.
    /// </summary>
    public static byte[]? Json<TState>(DateTimeOffset now, LogLevel level, string category, int eventId, string? message, Exception? exception, TState state)
    {
        if (message is null && exception is null)
        {
            return null;
        }

        var output = t_json ??= new ArrayBufferWriter<byte>(1024);
        output.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("Timestamp", now.ToString(TimestampFormat, CultureInfo.InvariantCulture));
            writer.WriteNumber("EventId", eventId);
            writer.WriteString("LogLevel", JsonLevel(level));
            writer.WriteString("Category", category);
            writer.WriteString("Message", message);
            if (exception is not null)
            {
                writer.WriteString("Exception", exception.ToString());
            }

            if (state is not null)
            {
                writer.WriteStartObject("State");
                if (state.ToString() is { } stateMessage && stateMessage != message)
                {
                    writer.WriteString("Message", stateMessage);
                }

                if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
                {
                    foreach (var value in values)
                    {
                        WriteValue(writer, value.Key, value.Value);
                    }
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        var bytes = new byte[output.WrittenCount + 1];
        output.WrittenSpan.CopyTo(bytes);
        bytes[^1] = (byte)'\n';
        if (output.Capacity > 16384)
        {
            t_json = null;
        }

        return bytes;
    }

    private static void AppendOneLine(StringBuilder line, string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        line.Append(' ');
        var start = line.Length;
        line.Append(text);
        line.Replace(Environment.NewLine, " ", start, line.Length - start);
    }

    private static void WriteValue(Utf8JsonWriter writer, string key, object? value)
    {
        switch (value)
        {
            case bool b:
                writer.WriteBoolean(key, b);
                break;
            case byte n:
                writer.WriteNumber(key, n);
                break;
            case sbyte n:
                writer.WriteNumber(key, n);
                break;
            case char c:
                writer.WriteString(key, MemoryMarshal.CreateReadOnlySpan(ref c, 1));
                break;
            case decimal n:
                writer.WriteNumber(key, n);
                break;
            case double n:
                writer.WriteNumber(key, n);
                break;
            case float n:
                writer.WriteNumber(key, n);
                break;
            case int n:
                writer.WriteNumber(key, n);
                break;
            case uint n:
                writer.WriteNumber(key, n);
                break;
            case long n:
                writer.WriteNumber(key, n);
                break;
            case ulong n:
                writer.WriteNumber(key, n);
                break;
            case short n:
                writer.WriteNumber(key, n);
                break;
            case ushort n:
                writer.WriteNumber(key, n);
                break;
            case null:
                writer.WriteNull(key);
                break;
            default:
                writer.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    private static string TextLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    private static string JsonLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "Trace",
        LogLevel.Debug => "Debug",
        LogLevel.Information => "Information",
        LogLevel.Warning => "Warning",
        LogLevel.Error => "Error",
        LogLevel.Critical => "Critical",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };
}
