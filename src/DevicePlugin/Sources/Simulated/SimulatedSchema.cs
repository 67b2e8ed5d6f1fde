using System.Collections.Immutable;
using System.Text;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Google.Protobuf;
using YamlDotNet.RepresentationModel;

namespace DevicePlugin.Sources.Simulated;

/// <summary>
/// The <c>simulated</c> source's kind and its part of the configuration file: <c>devices</c>, each with an ID, an
/// optional NUMA node and a health. Device health is what the file says.
/// </summary>
public sealed class SimulatedSchema : ISourceSchema
{
    private static readonly string[] DeviceKeys = ["id", "numa", "health"];

    public static SourceKind Kind { get; } = new("simulated") { HealthFromConfiguration = true };

    SourceKind ISourceSchema.Kind => Kind;

    public ImmutableArray<string> Keys { get; } = ["devices"];

    public ISourceSettings Parse(SourceEntry entry)
    {
        var devices = ImmutableArray<SimulatedDeviceConfig>.Empty;
        if (entry.Get("devices") is { } list)
        {
            var key = entry.KeyOf("devices");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var builder = ImmutableArray.CreateBuilder<SimulatedDeviceConfig>();
            foreach (var e in entry.Reader.Sequence(list, key).Children)
            {
                var device = Device(entry.Reader, e, $"{key}[{builder.Count}]", entry.Replicas);
                if (!seen.Add(device.Id))
                {
                    throw entry.Error(e, $"{key}[{builder.Count}].id", $"duplicate device id \"{ClientText.Quote(device.Id)}\"");
                }

                builder.Add(device);
            }

            devices = builder.ToImmutable();
        }

        var size = ListAndWatchSize(devices, entry.Replicas, ConfigLoader.MaxListAndWatchBytes);
        if (size > ConfigLoader.MaxListAndWatchBytes)
        {
            throw entry.Error(entry.Node, entry.Key, $"its ListAndWatch message would be {size:N0} bytes ({devices.Length} devices x {entry.Replicas} replicas), "
                + $"more than the kubelet's limit of 4 MiB ({ConfigLoader.MaxListAndWatchBytes:N0} bytes)");
        }

        return new SimulatedSettings { Devices = devices };
    }

    /// <summary>The encoded size of a simulated resource's full ListAndWatchResponse, replicas included.</summary>
    public static long ListAndWatchSizeOf(ResourceConfig resource) =>
        ListAndWatchSize(resource.SettingsAs<SimulatedSettings>().Devices, resource.Replicas, long.MaxValue);

    /// <summary>The encoded size of the full ListAndWatchResponse for these devices, replicas included.</summary>
    private static long ListAndWatchSize(ImmutableArray<SimulatedDeviceConfig> devices, int replicas, long stopAbove)
    {
        long total = 0;
        static int StringSize(int bytes) => CodedOutputStream.ComputeLengthSize(bytes) + bytes;
        foreach (var d in devices)
        {
            var health = d.Health == DeviceHealth.Healthy ? "Healthy" : "Unhealthy";
            var idBytes = Encoding.UTF8.GetByteCount(d.Id);
            var topology = 0;
            if (d.Numa is { } numa)
            {
                var node = numa == 0 ? 0 : 1 + CodedOutputStream.ComputeInt64Size(numa);
                var info = 1 + CodedOutputStream.ComputeLengthSize(node) + node;
                topology = 1 + CodedOutputStream.ComputeLengthSize(info) + info;
            }

            for (var k = 0; k < replicas; k++)
            {
                // "<id>::<k>" with replicas, else "<id>": its length without formatting it.
                var id = replicas > 1 ? idBytes + 2 + (k < 10 ? 1 : k < 100 ? 2 : k < 1000 ? 3 : 4) : idBytes;
                var device = 1 + StringSize(id) + 1 + StringSize(health.Length) + topology;
                total += 1 + CodedOutputStream.ComputeLengthSize(device) + device;
            }

            if (total > stopAbove)
            {
                break;
            }
        }

        return total;
    }

    private static SimulatedDeviceConfig Device(ConfigReader reader, YamlNode node, string prefix, int replicas)
    {
        var map = reader.Mapping(node, prefix);
        reader.KnownKeys(map, DeviceKeys, prefix + ".");
        var idNode = reader.Get(map, "id") ?? throw reader.Error(map, prefix + ".id", "is required");
        var id = reader.Text(idNode, prefix + ".id");
        if (id.Contains("::", StringComparison.Ordinal) || id.Contains(',', StringComparison.Ordinal))
        {
            throw reader.Error(idNode, prefix + ".id", $"\"{ClientText.Quote(id)}\" must not contain \"::\" or \",\" (they separate replicas and list entries)");
        }

        // The limit applies to every ID the kubelet is given, so the longest replica suffix counts: a longer
        // advertised ID would be refused by this plugin's own Allocate (INVALID_ARGUMENT past the same limit).
        var longest = replicas > 1 ? $"{id}::{replicas - 1}" : id;
        if (longest.Length > ClientText.MaxDeviceIdLength)
        {
            var what = longest.Length == id.Length ? "it" : $"with its replica suffix (\"::{replicas - 1}\") it";
            throw reader.Error(idNode, prefix + ".id", $"\"{ClientText.Quote(id)}\" is too long: {what} has {longest.Length} characters; a device ID is at most {ClientText.MaxDeviceIdLength} characters");
        }

        return new SimulatedDeviceConfig
        {
            Id = id,
            Numa = reader.Get(map, "numa") is { } n ? (int)reader.Number(n, prefix + ".numa", 0, 1023) : null,
            Health = reader.Get(map, "health") is { } h
                ? reader.Choice(h, prefix + ".health", ("Healthy", DeviceHealth.Healthy), ("Unhealthy", DeviceHealth.Unhealthy))
                : DeviceHealth.Healthy,
        };
    }
}
