using System.Reflection;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Tests.Logging;

/// <summary>
/// Every log message of the daemon has an event ID of its own, inside its area's range, and lives in a class named
/// <c>&lt;Area&gt;Log</c>. The ranges are listed in docs/architecture.md.
/// </summary>
public sealed class LogEventIdTests
{
    /// <summary>Area (namespace) → its event ID range, as docs/architecture.md lists them.</summary>
    private static readonly (string Namespace, int First, int Last)[] Ranges =
    [
        ("DevicePlugin.Kubelet", 1, 99),
        ("DevicePlugin.Pipeline", 100, 199),
        ("DevicePlugin", 200, 299),
        ("DevicePlugin.Sources.Nvml", 3000, 3099),
        ("DevicePlugin.Sources.Pci", 3100, 3199),
        ("DevicePlugin.Sources.Sysfs", 3200, 3299),
        ("DevicePlugin.Metrics", 4000, 4099),
        ("DevicePlugin.NodeFeatures", 4100, 4199),
        ("DevicePlugin.Cdi", 5000, 5099),
        ("DevicePlugin.Configuration", 6000, 6099),
        ("DevicePlugin.Health", 7000, 7099),
        ("DevicePlugin.Conformance", 8000, 8099),
        ("DevicePlugin.Hosting", 9000, 9099),
    ];

    private static IEnumerable<(MethodInfo Method, LoggerMessageAttribute Attribute)> Messages() =>
        typeof(Daemon).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(p => p.Attribute is not null)
            .Select(p => (p.Method, p.Attribute!));

    private static string NameOf(MethodInfo m) => $"{m.DeclaringType!.FullName}.{m.Name}";

    [Fact]
    public void Every_log_message_has_an_event_id_no_other_message_has()
    {
        var messages = Messages().ToArray();
        Assert.True(messages.Length > 50, $"only {messages.Length} log messages found");
        Assert.Empty(messages.Where(m => m.Attribute.EventId <= 0).Select(m => NameOf(m.Method)));
        var duplicates = messages
            .GroupBy(m => m.Attribute.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => NameOf(m.Method)))}");
        Assert.Empty(duplicates);
    }

    [Fact]
    public void Event_ids_lie_in_their_areas_range_and_log_classes_are_named_after_their_area()
    {
        var misplaced = Messages()
            .Where(m => !Ranges.Any(r => r.Namespace == m.Method.DeclaringType!.Namespace
                && m.Attribute.EventId >= r.First && m.Attribute.EventId <= r.Last))
            .Select(m => $"{NameOf(m.Method)} ({m.Attribute.EventId})");
        Assert.Empty(misplaced);

        var badlyNamed = Messages()
            .Select(m => m.Method.DeclaringType!)
            .Distinct()
            .Where(t => !t.Name.EndsWith("Log", StringComparison.Ordinal) || t.Name == "Log")
            .Select(t => t.FullName);
        Assert.Empty(badlyNamed);
    }
}
