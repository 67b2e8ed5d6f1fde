namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>
/// A throw-away sysfs tree (and a /dev next to it) in a temp directory, shaped like the real thing: functions nest
/// below <c>devices/pciDDDD:BB</c> through bridges, <c>bus/pci/devices</c> holds relative links to them, <c>driver</c>,
/// <c>iommu_group</c> and <c>subsystem</c> are relative links (the last two leading back up, as the real cycles do),
/// and character devices are child directories with <c>dev</c> and <c>uevent</c>.
/// </summary>
public sealed class FakeSysfs : IDisposable
{
    public FakeSysfs()
    {
        BaseDirectory = CreateBaseDirectory();
        SysRoot = Path.Combine(BaseDirectory, "sys");
        DevRoot = Path.Combine(BaseDirectory, "dev");
        Directory.CreateDirectory(Path.Combine(SysRoot, "bus", "pci", "devices"));
        Directory.CreateDirectory(Path.Combine(SysRoot, "bus", "pci", "drivers"));
        Directory.CreateDirectory(Path.Combine(SysRoot, "kernel", "iommu_groups"));
        Directory.CreateDirectory(Path.Combine(SysRoot, "devices"));
        Directory.CreateDirectory(Path.Combine(SysRoot, "class"));
        Directory.CreateDirectory(DevRoot);
        File.WriteAllText(Path.Combine(SysRoot, "bus", "pci", "rescan"), "");
    }

    public string BaseDirectory { get; }

    public string SysRoot { get; }

    public string DevRoot { get; }

    public string ListingDirectory => Path.Combine(SysRoot, "bus", "pci", "devices");

    /// <summary>A host bridge, <c>devices/pci&lt;domainBus&gt;</c> (for example "0000:00").</summary>
    public FakePciNode RootComplex(string domainBus)
    {
        var path = Path.Combine(SysRoot, "devices", "pci" + domainBus);
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "uevent"), "");
        return new FakePciNode(this, path, "pci" + domainBus);
    }

    /// <summary>Creates an (empty, fake) device node under the dev root, e.g. "kfd" or "vfio/42".</summary>
    public FakeSysfs DeviceNode(string devName)
    {
        var path = Path.Combine(DevRoot, devName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        return this;
    }

    public void RemoveDeviceNode(string devName) => File.Delete(Path.Combine(DevRoot, devName));

    public void Dispose()
    {
        try
        {
            Directory.Delete(BaseDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory is harmless.
        }
    }

    /// <summary>
    /// A fresh temp directory, on tmpfs (/dev/shm) where there is one: a fake tree is hundreds of small files and
    /// links, which a busy disk makes slow to create.
    /// </summary>
    private static string CreateBaseDirectory()
    {
        const string shm = "/dev/shm";
        if (Directory.Exists(shm))
        {
            try
            {
                return Directory.CreateDirectory(Path.Combine(shm, $"fake-sysfs-{Guid.NewGuid():N}")).FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not writable here: fall back to the ordinary temp directory.
            }
        }

        return Directory.CreateTempSubdirectory("fake-sysfs-").FullName;
    }

    internal static void RelativeLink(string linkPath, string targetPath)
    {
        if (File.Exists(linkPath) || Directory.Exists(linkPath) || new FileInfo(linkPath).LinkTarget is not null)
        {
            File.Delete(linkPath);
        }

        var relative = Path.GetRelativePath(Path.GetDirectoryName(linkPath)!, targetPath);
        File.CreateSymbolicLink(linkPath, relative);
    }
}
