namespace DevicePlugin.Inventory;

/// <summary>Follows resources from the resource manager's loop (for example to keep CDI spec files in step).</summary>
public interface IResourceObserver
{
    void ResourceChanged(ResourceSnapshot snapshot);

    void ResourceRemoved(string resourceName);

    void Shutdown();
}
