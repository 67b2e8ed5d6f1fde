using System.Buffers;
using System.Text.Json;

namespace DevicePlugin.Cdi;

/// <summary>Writes a <see cref="CdiSpec"/> as JSON with <see cref="Utf8JsonWriter"/> (no reflection, AOT-safe).</summary>
public static class CdiSpecJson
{
    private static readonly JsonWriterOptions Options = new() { Indented = true };

    public static byte[] Serialize(CdiSpec spec)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            json.WriteString("cdiVersion", spec.Version);
            json.WriteString("kind", spec.Kind);
            json.WriteStartArray("devices");
            foreach (var device in spec.Devices)
            {
                json.WriteStartObject();
                json.WriteString("name", device.Name);
                json.WriteStartObject("containerEdits");
                WriteEdits(json, device.Env, device.DeviceNodes);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            if (spec.SharedDeviceNodes.Length > 0)
            {
                json.WriteStartObject("containerEdits");
                WriteEdits(json, [], spec.SharedDeviceNodes);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteEdits(Utf8JsonWriter json, IReadOnlyCollection<string> env, IReadOnlyCollection<string> deviceNodes)
    {
        if (env.Count > 0)
        {
            json.WriteStartArray("env");
            foreach (var entry in env)
            {
                json.WriteStringValue(entry);
            }

            json.WriteEndArray();
        }

        if (deviceNodes.Count > 0)
        {
            json.WriteStartArray("deviceNodes");
            foreach (var path in deviceNodes)
            {
                json.WriteStartObject();
                json.WriteString("path", path);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }
    }
}
