using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// Notices GPUs appearing and disappearing while NVML stays initialised; called by the health thread on every wake,
/// so it never runs on a request. Every <see cref="NvmlSourceOptions.RescanInterval"/> it asks nvmlDeviceGetCount_v2
/// (one call); every <see cref="NvmlSourceOptions.UuidCheckInterval"/> it also reads each index's UUID (two calls per
/// GPU), which catches a GPU replaced by another with the count unchanged. When either differs from the current set,
/// discovery and the topology builder run again.
/// <para>
/// A GPU is dropped only when the driver no longer enumerates it: a complete enumeration (every index gave a UUID)
/// without its UUID. A GPU that is lost still sits at an index that answers GPU_IS_LOST, so while any index cannot
/// be identified, or while the GPU's own properties cannot be read, the GPU stays listed (with its earlier
/// properties) and the health monitor keeps it Unhealthy.
/// </para>
/// </summary>
internal sealed class NvmlRescanner
{
    private readonly NvmlLibrary _nvml;
    private readonly NvmlSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private DateTimeOffset _lastCountCheck;
    private DateTimeOffset _lastUuidCheck;
    private bool _countFailing;

    public NvmlRescanner(NvmlLibrary nvml, NvmlSourceOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.RescanInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.UuidCheckInterval, TimeSpan.Zero);
        _nvml = nvml;
        _options = options;
        _time = time;
        _logger = logger;
        _lastCountCheck = _lastUuidCheck = time.GetUtcNow();
    }

    /// <summary>
    /// The new GPU set when it changed since <paramref name="current"/>; null when nothing is due or changed. With
    /// <paramref name="migReconfigured"/> (a MIG configuration change event) the GPUs are discovered again now.
    /// </summary>
    public NvmlGpuSet? Check(NvmlGpuSet current, bool migReconfigured = false)
    {
        var now = _time.GetUtcNow();
        if (migReconfigured)
        {
            return Rediscover(current);
        }

        if (!Due(now, _lastCountCheck, _options.RescanInterval))
        {
            return null;
        }

        _lastCountCheck = now;
        var r = _nvml.GetDeviceCount(out var count);
        if (r != NvmlReturn.Success)
        {
            if (!_countFailing)
            {
                NvmlLog.RescanCountFailed(_logger, _nvml.Describe(r));
            }

            _countFailing = true;
            return null;
        }

        _countFailing = false;
        if (count != current.DeviceCount)
        {
            NvmlLog.GpuCountChanged(_logger, current.DeviceCount, count);
            return Rediscover(current);
        }

        if (!Due(now, _lastUuidCheck, _options.UuidCheckInterval))
        {
            return null;
        }

        _lastUuidCheck = now;
        var seen = NvmlDiscovery.ReadUuids(_nvml, count, out var unidentified);
        var appeared = !seen.IsSubsetOf(current.KnownUuids);
        var vanished = unidentified == 0 && !current.KnownUuids.IsSubsetOf(seen);
        if (!appeared && !vanished)
        {
            return MigLayoutChanged(current) ? Rediscover(current) : null;
        }

        NvmlLog.GpuUuidsChanged(_logger, string.Join(", ", seen.Except(current.KnownUuids).Order(StringComparer.Ordinal)),
            vanished ? string.Join(", ", current.KnownUuids.Except(seen).Order(StringComparer.Ordinal)) : "");
        return Rediscover(current);
    }

    /// <summary>
    /// Whether a GPU that can do MIG switched mode, or a GPU in MIG mode has other MIG devices now (one MIG-mode call
    /// per such GPU, and for those in MIG mode one slot count plus a handle and a UUID per slot): the periodic check
    /// that catches a reconfiguration whose event was missed.
    /// </summary>
    private bool MigLayoutChanged(NvmlGpuSet current)
    {
        if (!_nvml.HasMigMode)
        {
            return false;
        }

        foreach (var gpu in current.Gpus.Where(g => g.MigCapable))
        {
            var uuids = NvmlDiscovery.ReadMigUuids(_nvml, gpu.Handle, out var enabled);
            if (enabled != gpu.MigEnabled
                || (uuids is not null && !uuids.SetEquals(gpu.MigDevices.Select(m => m.Uuid))))
            {
                NvmlLog.MigLayoutChanged(_logger, gpu.Uuid);
                return true;
            }
        }

        return false;
    }

    /// <summary>A wall clock that went back counts as due, so a clock change never stops the checks.</summary>
    private static bool Due(DateTimeOffset now, DateTimeOffset last, TimeSpan interval)
    {
        var elapsed = now - last;
        return elapsed < TimeSpan.Zero || elapsed >= interval;
    }

    private NvmlGpuSet? Rediscover(NvmlGpuSet current)
    {
        NvmlDiscoveryResult discovery;
        try
        {
            discovery = NvmlDiscovery.Discover(_nvml, _options.SysfsRoot, _options.ProcRoot, _logger);
        }
        catch (SourceInitException e)
        {
            // The set stays as it is; the count still differs at the next check, which tries again.
            NvmlLog.RescanFailed(_logger, e.Message);
            return null;
        }

        var found = discovery.Gpus.Select(g => g.Uuid).ToHashSet(StringComparer.Ordinal);
        var gpus = discovery.Gpus.ToBuilder();
        var known = discovery.EnumeratedUuids.ToBuilder();
        foreach (var gpu in current.Gpus.Where(g => !found.Contains(g.Uuid)))
        {
            if (discovery.Unidentified == 0 && !discovery.EnumeratedUuids.Contains(gpu.Uuid))
            {
                NvmlLog.GpuGone(_logger, gpu.Uuid, gpu.PciAddress, "the driver no longer enumerates it");
                continue;
            }

            NvmlLog.GpuKeptUnreadable(_logger, gpu.Uuid, gpu.PciAddress);
            gpus.Add(gpu);
            known.Add(gpu.Uuid);
        }

        gpus.Sort(static (a, b) => string.CompareOrdinal(a.PciAddress, b.PciAddress));
        var merged = gpus.ToImmutable();
        var topology = NvmlTopologyBuilder.Build(_nvml, merged, _logger);
        return new NvmlGpuSet(merged, topology, discovery.DeviceCount, known.ToImmutable());
    }
}
