using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The Node Feature Discovery labels gpu-feature-discovery gives an NVIDIA node (facts: deploy-and-labels.md), from
/// what the nvml source already knows: product, memory (MiB), count, replicas and sharing strategy, family and
/// compute capability, driver and CUDA versions, MIG capability. Values here are raw; the feature file sanitises them.
/// </summary>
internal static class NvmlFeatureLabels
{
    public const string Prefix = "nvidia.com/";

    public static ImmutableSortedDictionary<string, string> For(NvmlSession session, NvmlGpuSet set, int replicas)
    {
        var labels = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        void Add(string key, string value) => labels[Prefix + key] = value;

        Add("gpu.count", set.Gpus.Length.ToString(CultureInfo.InvariantCulture));
        Add("gpu.replicas", replicas.ToString(CultureInfo.InvariantCulture));
        Add("gpu.sharing-strategy", replicas > 1 ? "time-slicing" : "none");
        if (!set.Gpus.IsEmpty)
        {
            var first = set.Gpus[0];
            Add("gpu.product", Product(first.Name) + (replicas > 1 ? "-SHARED" : ""));
            if (first.MemoryBytes is { } memory)
            {
                Add("gpu.memory", (memory / (1024 * 1024)).ToString(CultureInfo.InvariantCulture));
            }

            if (ParseComputeCapability(first.ComputeCapability) is var (major, minor))
            {
                Add("gpu.compute.major", major.ToString(CultureInfo.InvariantCulture));
                Add("gpu.compute.minor", minor.ToString(CultureInfo.InvariantCulture));
                Add("gpu.family", Family(major, minor));
            }

            Add("mig.capable", set.Gpus.Any(g => g.MigCapable) ? "true" : "false");
        }

        var driver = session.DriverVersion.Split('.');
        if (driver.Length >= 2 && driver.All(p => p.Length > 0 && p.All(char.IsAsciiDigit)))
        {
            var revision = driver.Length > 2 ? driver[2] : "";
            Add("cuda.driver-version.major", driver[0]);
            Add("cuda.driver-version.minor", driver[1]);
            Add("cuda.driver-version.revision", revision);
            Add("cuda.driver-version.full", session.DriverVersion);
            Add("cuda.driver.major", driver[0]);
            Add("cuda.driver.minor", driver[1]);
            Add("cuda.driver.rev", revision);
        }

        if (session.CudaDriverVersion is { } cuda)
        {
            var major = (cuda / 1000).ToString(CultureInfo.InvariantCulture);
            var minor = (cuda % 1000 / 10).ToString(CultureInfo.InvariantCulture);
            Add("cuda.runtime-version.major", major);
            Add("cuda.runtime-version.minor", minor);
            Add("cuda.runtime-version.full", $"{major}.{minor}");
            Add("cuda.runtime.major", major);
            Add("cuda.runtime.minor", minor);
        }

        return labels.ToImmutable();
    }

    /// <summary>As GFD: keeps letters, digits, <c>-_.</c> and spaces, and turns spaces into <c>-</c>.</summary>
    public static string Product(string name)
    {
        var text = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            {
                text.Append(c);
            }
            else if (c == ' ')
            {
                text.Append('-');
            }
        }

        return text.ToString();
    }

    /// <summary>The architecture of a compute capability, by GFD's table; <c>undefined</c> when unknown.</summary>
    public static string Family(int major, int minor) => (major, minor) switch
    {
        (1, _) => "tesla",
        (2, _) => "fermi",
        (3, _) => "kepler",
        (5, _) => "maxwell",
        (6, _) => "pascal",
        (7, < 5) => "volta",
        (7, 5) => "turing",
        (8, < 9) => "ampere",
        (8, 9) => "ada-lovelace",
        (9, _) => "hopper",
        (10, _) or (12, _) => "blackwell",
        (13, _) => "rubin",
        _ => "undefined",
    };

    private static (int Major, int Minor)? ParseComputeCapability(string? text)
    {
        var dot = text?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        return dot > 0
            && int.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            && int.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var minor)
            ? (major, minor)
            : null;
    }
}
