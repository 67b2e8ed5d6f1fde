using System.Text;
using DevicePlugin.Cli;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.NodeFeatures;

/// <summary>
/// Keeps a Node Feature Discovery local feature file (<c>--nfd-features-file</c>, normally in
/// <c>/etc/kubernetes/node-feature-discovery/features.d/</c>) in step with the resources: one <c>key=value</c> line per
/// label the sources give (<see cref="ResourceSnapshot.FeatureLabels"/>), sorted, every key and value made valid by
/// Kubernetes' rules (<see cref="FeatureLabel"/>). The file is replaced atomically (a dotfile in the same directory,
/// mode 0644, renamed over it; nfd-worker ignores dotfiles) and only when its content changes; it is deleted at
/// shutdown, as gpu-feature-discovery does. Needs no API access. Runs on the resource manager's loop.
/// </summary>
public sealed class NfdFeatureFile : IResourceObserver
{
    /// <summary>nfd-worker skips files larger than this.</summary>
    public const int MaxFileBytes = 65536;

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Dictionary<string, ResourceSnapshot> _resources = new(StringComparer.Ordinal);
    private string? _written;
    private string? _lastError;

    public NfdFeatureFile(string path, ILogger<NfdFeatureFile> logger)
    {
        _path = Path.GetFullPath(path);
        _logger = logger;
    }

    public string FilePath => _path;

    /// <summary>How many times the file was (re)written; for tests.</summary>
    public int Writes { get; private set; }

    public void ResourceChanged(ResourceSnapshot snapshot)
    {
        if (_resources.TryGetValue(snapshot.ResourceName, out var known) && ReferenceEquals(known, snapshot))
        {
            return;
        }

        _resources[snapshot.ResourceName] = snapshot;
        Update();
    }

    public void ResourceRemoved(string resourceName)
    {
        if (_resources.Remove(resourceName))
        {
            Update();
        }
    }

    public void Shutdown()
    {
        _resources.Clear();
        try
        {
            File.Delete(_path);
            NodeFeaturesLog.Deleted(_logger, _path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            NodeFeaturesLog.WriteFailed(_logger, _path, OsErrorText.Of(e));
        }
    }

    /// <summary>The file's content for the resources known now.</summary>
    public string Render()
    {
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var snapshot in _resources.Values.OrderBy(s => s.ResourceName, StringComparer.Ordinal))
        {
            foreach (var (key, value) in snapshot.FeatureLabels)
            {
                if (FeatureLabel.SanitizeKey(key) is { } valid)
                {
                    labels.TryAdd(valid, FeatureLabel.SanitizeValue(value));
                }
                else
                {
                    NodeFeaturesLog.LabelSkipped(_logger, key, snapshot.ResourceName);
                }
            }
        }

        var text = new StringBuilder();
        text.Append("# Node Feature Discovery labels of the device plugin's devices; rewritten when they change.\n");
        foreach (var (key, value) in labels)
        {
            var line = $"{key}={value}\n";
            if (text.Length + line.Length > MaxFileBytes)
            {
                break;
            }

            text.Append(line);
        }

        return text.ToString();
    }

    private void Update()
    {
        var content = Render();
        if (content == _written)
        {
            return;
        }

        var directory = Path.GetDirectoryName(_path)!;
        var temporary = Path.Combine(directory, "." + Path.GetFileName(_path) + ".tmp");
        try
        {
            Directory.CreateDirectory(directory);
            using (var stream = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            }))
            {
                stream.Write(Encoding.UTF8.GetBytes(content));
                stream.Flush(flushToDisk: true);
            }

            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(temporary, _path, overwrite: true);
            _written = content;
            _lastError = null;
            Writes++;
            NodeFeaturesLog.Written(_logger, _path, content.Count(c => c == '\n') - 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            var reason = OsErrorText.Of(e);
            if (_lastError != reason)
            {
                // One line per kind of failure, not one per change: the next change tries again.
                _lastError = reason;
                NodeFeaturesLog.WriteFailed(_logger, _path, reason);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
