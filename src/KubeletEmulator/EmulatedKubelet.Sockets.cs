namespace DevicePlugin.KubeletEmulator;

// The socket wipe of a kubelet start: every socket in the directory goes, the checkpoint file stays.
public sealed partial class EmulatedKubelet
{
    private void WipeSockets()
    {
        foreach (var path in System.IO.Directory.EnumerateFileSystemEntries(Directory))
        {
            if (Path.GetFileName(path) == CheckpointName)
            {
                continue;
            }

            var info = new FileInfo(path);
            if (!info.Attributes.HasFlag(FileAttributes.Directory) && IsSocket(path))
            {
                TryDelete(path);
            }
        }
    }

    private static bool IsSocket(string path)
    {
        // .NET exposes no file type for sockets: a socket is neither a directory nor a link, and open(2) refuses it.
        var info = new FileInfo(path);
        if (!info.Exists || info.LinkTarget is not null)
        {
            return false;
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
