namespace DevicePlugin.Kubelet;

/// <summary>
/// Tells one <c>kubelet.sock</c> from the next: a restarted kubelet creates the file anew, with a new change time.
/// </summary>
public sealed record KubeletSocketIdentity(long ChangeTicks)
{
    public static KubeletSocketIdentity? Read(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return null;
            }

            // Creation time is the statx birth time where the file system has it, else the change time.
            return new KubeletSocketIdentity(info.CreationTimeUtc.Ticks ^ (info.LastWriteTimeUtc.Ticks << 1));
        }
        catch (IOException)
        {
            return null;
        }
    }
}
