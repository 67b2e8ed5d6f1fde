using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Cdi;

/// <summary>
/// Keeps CDI spec files in step with the inventory from the resource manager's loop (never on a gRPC request):
/// written when a resource's snapshot changes, removed with the resource and at shutdown. A change of
/// <c>cdi.specDir</c> moves every spec to the new directory.
/// </summary>
public sealed class CdiSpecObserver(CdiConfig config, ILoggerFactory loggers) : IResourceObserver
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ResourceSnapshot> _current = new(StringComparer.Ordinal);
    private CdiSpecWriter _writer = new(config, loggers.CreateLogger<CdiSpecWriter>());

    public string SpecDirectory
    {
        get
        {
            lock (_lock)
            {
                return _writer.SpecDirectory;
            }
        }
    }

    public void Reconfigure(CdiConfig next)
    {
        lock (_lock)
        {
            if (next.SpecDirectory == _writer.SpecDirectory)
            {
                return;
            }

            _writer.RemoveAll();
            _writer = new CdiSpecWriter(next, loggers.CreateLogger<CdiSpecWriter>());
            foreach (var snapshot in _current.Values)
            {
                _writer.Write(snapshot);
            }
        }
    }

    public void ResourceChanged(ResourceSnapshot snapshot)
    {
        lock (_lock)
        {
            if (_current.TryGetValue(snapshot.ResourceName, out var previous) && ReferenceEquals(previous, snapshot))
            {
                return;
            }

            _current[snapshot.ResourceName] = snapshot;
            _writer.Write(snapshot);
        }
    }

    public void ResourceRemoved(string resourceName)
    {
        lock (_lock)
        {
            _current.Remove(resourceName);
            _writer.Remove(resourceName);
        }
    }

    public void Shutdown()
    {
        lock (_lock)
        {
            _current.Clear();
            _writer.RemoveAll();
        }
    }
}
