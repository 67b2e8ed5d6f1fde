using System.Runtime.InteropServices;

namespace DevicePlugin.Sources.Nvml;

/// <summary>Where the NVML library is loaded from, and the driver-tree directories looked at to find it.</summary>
/// <param name="Path">A path, or a bare file name that the dynamic loader searches for.</param>
/// <param name="Searched">The directories of <c>--driver-root</c> looked at (empty without a driver root).</param>
internal sealed record NvmlLibraryLocation(string Path, IReadOnlyList<string> Searched)
{
    /// <summary>
    /// Words for an error when the library could not be loaded: which driver-tree directories held no copy.
    /// Empty when no driver tree was searched.
    /// </summary>
    public string NotFoundHint => Searched.Count == 0
        ? ""
        : $"; --driver-root has no {System.IO.Path.GetFileName(Path)} in {string.Join(", ", Searched)}";
}

/// <summary>
/// Finds <c>libnvidia-ml.so.1</c> as NVIDIA's own plugin does: <c>--nvml-library</c> when it names a path (holds a
/// <c>/</c>); otherwise, with <c>--driver-root DIR</c>, the first of <c>DIR/usr/lib64</c>,
/// <c>DIR/usr/lib/&lt;arch&gt;-linux-gnu</c>, <c>DIR/lib64</c>, <c>DIR/lib/&lt;arch&gt;-linux-gnu</c> holding the
/// file; otherwise the bare name, for the dynamic loader (the NVIDIA container runtime puts the library on its path).
/// </summary>
internal static class NvmlLibraryLocator
{
    public static NvmlLibraryLocation Locate(string library, string? driverRoot) =>
        Locate(library, driverRoot, RuntimeInformation.ProcessArchitecture);

    public static NvmlLibraryLocation Locate(string library, string? driverRoot, Architecture architecture)
    {
        ArgumentException.ThrowIfNullOrEmpty(library);
        if (library.Contains('/', StringComparison.Ordinal) || string.IsNullOrEmpty(driverRoot))
        {
            return new NvmlLibraryLocation(library, []);
        }

        var searched = SearchDirectories(driverRoot, architecture);
        foreach (var directory in searched)
        {
            var candidate = System.IO.Path.Combine(directory, library);
            if (File.Exists(candidate))
            {
                return new NvmlLibraryLocation(candidate, searched);
            }
        }

        return new NvmlLibraryLocation(library, searched);
    }

    /// <summary>The driver tree's library directories, in the order they are searched.</summary>
    public static IReadOnlyList<string> SearchDirectories(string driverRoot, Architecture architecture)
    {
        var triplet = MultiarchTriplet(architecture);
        var root = driverRoot.TrimEnd('/');
        var directories = new List<string> { root + "/usr/lib64" };
        if (triplet is not null)
        {
            directories.Add($"{root}/usr/lib/{triplet}");
        }

        directories.Add(root + "/lib64");
        if (triplet is not null)
        {
            directories.Add($"{root}/lib/{triplet}");
        }

        return directories;
    }

    /// <summary>The Debian/Ubuntu multiarch name of the architecture (<c>x86_64-linux-gnu</c>), or null when unknown.</summary>
    public static string? MultiarchTriplet(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "x86_64-linux-gnu",
        Architecture.Arm64 => "aarch64-linux-gnu",
        Architecture.Ppc64le => "powerpc64le-linux-gnu",
        Architecture.S390x => "s390x-linux-gnu",
        _ => null,
    };
}
