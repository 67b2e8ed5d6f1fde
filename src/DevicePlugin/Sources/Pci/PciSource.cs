using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> source: finds the PCI functions that the configured <c>match</c> selectors name in sysfs,
/// advertises them by PCI address with their device nodes and PCIe topology, and polls their health
/// (hot-unplug, driver unbound or changed, fatal AER errors, missing device nodes) in the background loop
/// <c>pci-poll</c>, once per poll interval: a poll that throws is logged, shown on /readyz and in the loop metrics,
/// and the next poll follows as usual.
/// Read-only: it never writes to sysfs.
/// </summary>
public sealed class PciSource : IDeviceSource
{
    private readonly PciSourceOptions _options;
    private readonly IInventorySink _sink;
    private readonly TimeProvider _time;
    private readonly ILogger<PciSource> _logger;
    private readonly PciInventory _inventory;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly BackgroundLoop _pollLoop;
    private bool _polling;

    /// <summary>True from a failed read of the PCI device list until one succeeds (reported to the sink).</summary>
    private bool _failing;

    /// <param name="loops">Where the poll loop's failures show (/readyz and the background_loop metrics); none when null.</param>
    public PciSource(PciSourceOptions options, IInventorySink sink, TimeProvider time, ILoggerFactory loggers, LoopHealth? loops = null)
    {
        if (options.PollInterval <= TimeSpan.Zero || options.RescanInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException(
                $"PCI poll interval ({options.PollInterval}) and rescan interval ({options.RescanInterval}) must be positive",
                nameof(options));
        }

        _options = options;
        _sink = sink;
        _time = time;
        _logger = loggers.CreateLogger<PciSource>();
        _inventory = new PciInventory(options, time, _logger, fault => sink.RecordFault(PciSchema.Kind, fault));
        _pollLoop = new BackgroundLoop("pci-poll", PollAsync, _logger, loops, period: options.PollInterval, retryAfter: options.PollInterval);
    }

    public SourceKind Kind => PciSchema.Kind;

    /// <summary>The source as a daemon creates it (its registration in <c>DeviceSources</c>).</summary>
    public static PciSource Create(SourceContext context) => new(
        new PciSourceOptions { SysfsRoot = context.Options.SysfsRoot, DevRoot = context.Options.DevRoot },
        context.Sink, context.Time, context.Loggers, context.Loops);

    public async Task ApplyAsync(SourceAssignment assignment, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _inventory.Configure(assignment);

            // The poll loop runs even when this first scan fails: it rescans every RescanInterval, so a sysfs that
            // becomes readable later (when --fail-on-init-error=false keeps the plugin up) is picked up then.
            if (!_polling)
            {
                _polling = true;
                _pollLoop.Start();
            }
            if (!assignment.Resources.IsEmpty)
            {
                try
                {
                    _inventory.Rescan();
                    _failing = false;
                    _sink.SourceRunning(PciSchema.Kind);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The daemon reports this failure; the poll loop reports each retry.
                    _failing = true;
                    throw ListingFailed(e.Message, e);
                }
            }
            else
            {
                // No pci resources: nothing to read; this withdraws whatever was published before.
                _inventory.RebuildPublished();
            }

            _sink.Publish(PciSchema.Kind, _inventory.Published);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _pollLoop.DisposeAsync();
        _gate.Dispose();
    }

    private SourceInitException ListingFailed(string reason, Exception? inner)
    {
        var message = $"pci source: cannot read the PCI device list {_inventory.Listing} (--sysfs-root {_options.SysfsRoot}): {reason}";
        return inner is null ? new SourceInitException(message) : new SourceInitException(message, inner);
    }

    /// <summary>One poll: health of the tracked devices, and a rescan when one is due; publishes what changed.</summary>
    private async Task PollAsync(CancellationToken token)
    {
        await _gate.WaitAsync(token);
        try
        {
            var failures = _inventory.ListingFailures;
            var reads = _inventory.ListingsRead;
            if (_inventory.Poll())
            {
                _sink.Publish(PciSchema.Kind, _inventory.Published);
            }

            if (_inventory.ListingFailures > failures)
            {
                _failing = true;
                _sink.SourceFailed(PciSchema.Kind, ListingFailed(_inventory.ListingError ?? "unreadable", null));
            }
            else if (_failing && _inventory.ListingsRead > reads)
            {
                _failing = false;
                _sink.SourceRunning(PciSchema.Kind);
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
