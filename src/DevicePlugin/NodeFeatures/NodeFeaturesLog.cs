using Microsoft.Extensions.Logging;

namespace DevicePlugin.NodeFeatures;

/// <summary>Log events of the Node Feature Discovery file (IDs 4100-4199).</summary>
internal static partial class NodeFeaturesLog
{
    [LoggerMessage(4101, LogLevel.Information, "node feature labels written to {File} ({Labels} labels)")]
    public static partial void Written(ILogger logger, string file, int labels);

    [LoggerMessage(4102, LogLevel.Error, "cannot write or delete the node feature file {File}: {Message}")]
    public static partial void WriteFailed(ILogger logger, string file, string message);

    [LoggerMessage(4103, LogLevel.Information, "node feature file {File} deleted")]
    public static partial void Deleted(ILogger logger, string file);

    [LoggerMessage(4104, LogLevel.Warning, "node feature label {Key} of {Resource} cannot be made valid; left out")]
    public static partial void LabelSkipped(ILogger logger, string key, string resource);
}
