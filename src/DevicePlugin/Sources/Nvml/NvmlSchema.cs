using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Health;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources.Nvml;

/// <summary>The <c>nvml</c> source's kind and its part of the configuration file: <c>migStrategy</c>.</summary>
public sealed class NvmlSchema : ISourceSchema
{
    public static SourceKind Kind { get; } = new("nvml") { UncodedFaultKinds = [DeviceFaultKind.DoubleBitEcc, DeviceFaultKind.Lost] };

    SourceKind ISourceSchema.Kind => Kind;

    public ImmutableArray<string> Keys { get; } = ["migStrategy"];

    public ISourceSettings Parse(SourceEntry entry) => new NvmlSettings
    {
        MigStrategy = entry.Get("migStrategy") is { } node
            ? entry.Reader.Choice(node, entry.KeyOf("migStrategy"), ("none", MigStrategy.None), ("single", MigStrategy.Single), ("mixed", MigStrategy.Mixed))
            : MigStrategy.None,
    };

    /// <summary>One NVML resource per node: two would advertise the same GPUs twice.</summary>
    public void CheckResources(ConfigReader reader, IReadOnlyList<ResourceEntry> resources)
    {
        if (resources.Count > 1)
        {
            var (first, second) = (resources[0].Resource, resources[1].Resource);
            throw reader.Error(second.Line, resources[1].Key + ".source",
                $"only one nvml resource is supported (\"{ClientText.Quote(first.Name)}\" and \"{ClientText.Quote(second.Name)}\" would advertise the same GPUs twice)");
        }
    }
}
