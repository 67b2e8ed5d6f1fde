using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Sources;

namespace DevicePlugin.Tests.Sources.Fixture;

// A device source that exists only in the test project, written the way docs/architecture.md says a source is
// added: its kind, config schema, settings and source here, and one registration line (FixtureSource.Registered).
// Nothing in src/ knows it.

/// <summary>The <c>fixture</c> source's own settings: how many devices (<c>slots</c>).</summary>
public sealed record FixtureSettings(int Slots) : ISourceSettings;

/// <summary>The <c>fixture</c> source's kind and config schema: one key, <c>slots</c>, a whole number from 1 to 64.</summary>
public sealed class FixtureSchema : ISourceSchema
{
    public static SourceKind Kind { get; } = new("fixture");

    SourceKind ISourceSchema.Kind => Kind;

    public ImmutableArray<string> Keys { get; } = ["slots"];

    public ISourceSettings Parse(SourceEntry entry)
    {
        var node = entry.Get("slots") ?? throw entry.Error(entry.Node, entry.KeyOf("slots"), "is required");
        return new FixtureSettings((int)entry.Reader.Number(node, entry.KeyOf("slots"), 1, 64));
    }
}

/// <summary>Publishes <c>slot-0</c> … <c>slot-(N-1)</c> for each resource; a container gets <c>FIXTURE_SLOTS</c> = its slots.</summary>
public sealed class FixtureSource(IInventorySink sink) : IDeviceSource
{
    public const string EnvironmentVariable = "FIXTURE_SLOTS";

    private int _applied;

    /// <summary>The built-in sources plus this one: its one registration line.</summary>
    public static SourceCatalog Registered { get; } = DeviceSources.Builtin.With(new FixtureSchema(), context => new FixtureSource(context.Sink));

    /// <summary>How often the daemon handed this source an assignment.</summary>
    public int Applied => Volatile.Read(ref _applied);

    public SourceKind Kind => FixtureSchema.Kind;

    public Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _applied);
        sink.Publish(Kind, [.. assignment.Resources.Select(r => new PublishedResource(
            r.Name,
            [.. Enumerable.Range(0, r.SettingsAs<FixtureSettings>().Slots).Select(i => new PhysicalDevice
            {
                Id = $"slot-{i}",
                Health = DeviceHealth.Healthy,
                Environment = [new(EnvironmentVariable, $"slot-{i}")],
            })]))]);
        if (!assignment.Resources.IsEmpty)
        {
            sink.SourceRunning(Kind);
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
