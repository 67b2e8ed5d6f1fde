using DevicePlugin.Cli;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cdi;

/// <summary>
/// Keeps one CDI spec file per resource whose naming is <see cref="DeviceNaming.Cdi"/> or <see cref="DeviceNaming.Both"/>
/// in <see cref="CdiConfig.SpecDirectory"/>, in step with the inventory.
/// Files are replaced atomically (a temporary file in the same directory, flushed, then renamed over the old one), so
/// a runtime never reads half a spec; a file is only rewritten when its content changes (or it went missing).
/// Thread-safe. I/O errors are logged and reported as <see cref="CdiWriteResult.Failed"/>, never thrown.
/// </summary>
public sealed class CdiSpecWriter
{
    private const UnixFileMode SpecFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly ILogger<CdiSpecWriter> _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, WrittenSpec> _written = new(StringComparer.Ordinal);

    public CdiSpecWriter(CdiConfig config, ILogger<CdiSpecWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(config.SpecDirectory);
        SpecDirectory = config.SpecDirectory;
        _logger = logger;
    }

    public string SpecDirectory { get; }

    /// <summary>Path of the spec file this writer keeps for a resource, or null when it keeps none.</summary>
    public string? PathOf(string resourceName)
    {
        lock (_lock)
        {
            return _written.TryGetValue(resourceName, out var spec) ? Path.Combine(SpecDirectory, spec.FileName) : null;
        }
    }

    /// <summary>Writes (or keeps) the spec of <paramref name="snapshot"/>'s resource.</summary>
    public CdiWriteResult Write(ResourceSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Naming == DeviceNaming.Env)
        {
            // Only resources that hand out CDI names get a spec: a spec nobody asked for could shadow a vendor's
            // spec for the same kind (a /var/run/cdi spec outranks /etc/cdi) and lose its hooks and mounts. Checked
            // first, so a resource without CDI names is never built into a spec nor logged about.
            lock (_lock)
            {
                RemoveLocked(snapshot.ResourceName);
                return CdiWriteResult.Removed;
            }
        }

        var problems = new List<string>();
        var spec = CdiSpec.FromSnapshot(snapshot, problems);
        if (spec is null)
        {
            foreach (var problem in problems)
            {
                CdiLog.SpecRefused(_logger, snapshot.ResourceName, problem);
            }

            return CdiWriteResult.Failed;
        }

        foreach (var problem in problems)
        {
            CdiLog.DeviceLeftOut(_logger, snapshot.ResourceName, problem);
        }

        lock (_lock)
        {
            if (spec.Devices.Length == 0)
            {
                // CDI refuses a spec without devices.
                RemoveLocked(snapshot.ResourceName);
                return CdiWriteResult.Removed;
            }

            var owner = _written.FirstOrDefault(kv => kv.Value.FileName == spec.FileName && kv.Key != snapshot.ResourceName);
            if (owner.Key is not null)
            {
                CdiLog.SpecRefused(_logger, snapshot.ResourceName,
                    $"its spec file {spec.FileName} is already written for resource {owner.Key}");
                return CdiWriteResult.Failed;
            }

            var content = CdiSpecJson.Serialize(spec);
            var path = Path.Combine(SpecDirectory, spec.FileName);
            if (_written.TryGetValue(snapshot.ResourceName, out var previous))
            {
                if (previous.FileName == spec.FileName && previous.Content.AsSpan().SequenceEqual(content) && File.Exists(path))
                {
                    return CdiWriteResult.Unchanged;
                }

                if (previous.FileName != spec.FileName)
                {
                    RemoveLocked(snapshot.ResourceName);
                }
            }

            try
            {
                WriteAtomically(path, content);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                CdiLog.WriteFailed(_logger, e, path, snapshot.ResourceName, OsErrorText.Of(e));
                return CdiWriteResult.Failed;
            }

            _written[snapshot.ResourceName] = new WrittenSpec(spec.FileName, content);
            CdiLog.SpecWritten(_logger, path, snapshot.ResourceName, spec.Devices.Length, spec.Version);
            return CdiWriteResult.Written;
        }
    }

    /// <summary>Deletes the spec file of a resource (removed from the configuration). False when there was none.</summary>
    public bool Remove(string resourceName)
    {
        lock (_lock)
        {
            return RemoveLocked(resourceName);
        }
    }

    /// <summary>Deletes every spec file this writer wrote (at shutdown).</summary>
    public void RemoveAll()
    {
        lock (_lock)
        {
            foreach (var resource in _written.Keys.ToArray())
            {
                RemoveLocked(resource);
            }
        }
    }

    private bool RemoveLocked(string resourceName)
    {
        if (!_written.Remove(resourceName, out var spec))
        {
            return false;
        }

        var path = Path.Combine(SpecDirectory, spec.FileName);
        try
        {
            File.Delete(path);
            CdiLog.SpecRemoved(_logger, path, resourceName);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CdiLog.RemoveFailed(_logger, e, path, resourceName, OsErrorText.Of(e));
            return false;
        }
    }

    private void WriteAtomically(string path, byte[] content)
    {
        Directory.CreateDirectory(SpecDirectory);
        // A dot-name ending in .tmp: CDI registries only load *.json and *.yaml, so they never see the partial file.
        var temporary = Path.Combine(SpecDirectory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = SpecFileMode;
            }

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private sealed record WrittenSpec(string FileName, byte[] Content);
}
