using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Pci;

/// <summary>
/// The <c>pci</c> source: finds the PCI functions that the configured <c>match</c> selectors name in sysfs,
/// advertises them by PCI address with their device nodes and PCIe topology, and polls their health
/// (hot-unplug, driver unbound or changed, fatal AER errors, missing device nodes) on a background timer.
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
    private readonly CancellationTokenSource _stopping = new();
    private Task? _pollLoop;

    public PciSource(PciSourceOptions options, IInventorySink sink, TimeProvider time, ILoggerFactory loggers)
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
        _inventory = new PciInventory(options, time, _logger, fault => sink.RecordFault(SourceKind.Pci, fault));
    }

    public SourceKind Kind => SourceKind.Pci;

    public async Task ApplyAsync(ImmutableArray<ResourceConfig> resources, PluginConfig config, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _inventory.Configure(resources, config);

            // The poll loop runs even when this first scan fails: it rescans every RescanInterval, so a sysfs that
            // becomes readable later (when --fail-on-init-error=false keeps the plugin up) is picked up then.
            _pollLoop ??= Task.Run(PollLoopAsync, CancellationToken.None);
            if (!resources.IsEmpty)
            {
                try
                {
                    _inventory.Rescan();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new SourceInitException(
                        $"pci source: cannot read the PCI device list {_inventory.Listing} (--sysfs-root {_options.SysfsRoot}): {e.Message}", e);
                }
            }
            else
            {
                // No pci resources: nothing to read; this withdraws whatever was published before.
                _inventory.RebuildSnapshots();
            }

            _sink.Publish(SourceKind.Pci, _inventory.Snapshots);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_pollLoop is { } loop)
        {
            await loop;
        }

        _stopping.Dispose();
        _gate.Dispose();
    }

    private async Task PollLoopAsync()
    {
        var token = _stopping.Token;
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(token))
            {
                await _gate.WaitAsync(token);
                try
                {
                    if (_inventory.Poll())
                    {
                        _sink.Publish(SourceKind.Pci, _inventory.Snapshots);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.PollFailed(_logger, e);
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed.
        }
    }
}
