using DevicePlugin.Cli;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources;

/// <summary>
/// What a daemon gives each source it creates: where to publish, its options, whether a start failure is fatal, its
/// loggers and clock, its own metrics (never a process-wide meter), where its background loops report failures, and
/// whether the configuration is the built-in default (no <c>--config</c>): there a source finding none of its hardware
/// is the expected case on most nodes, not a fault.
/// </summary>
public sealed record SourceContext(
    IInventorySink Sink, DaemonOptions Options, bool FailOnInitError, ILoggerFactory Loggers, TimeProvider Time, ISourceMetrics Metrics,
    LoopHealth? Loops = null, bool BuiltInDefaults = false);
