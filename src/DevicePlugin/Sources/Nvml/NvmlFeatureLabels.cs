using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using DevicePlugin.Configuration;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The Node Feature Discovery labels gpu-feature-discovery gives an NVIDIA node (facts: deploy-and-labels.md), from
/// what the nvml source already knows: product, memory (MiB), count, replicas and sharing strategy, family and
/// compute capability, driver and CUDA versions, MIG capability; and, as GFD does under a MIG strategy,
/// <c>mig.strategy</c>, the <c>gpu.*</c> labels of the MIG devices under <c>single</c> (or <c>-MIG-INVALID</c> when
/// single cannot advertise them) and <c>mig-&lt;profile&gt;.*</c> per profile under <c>mixed</c>. Values here are
/// raw; the feature file sanitises them.
/// </summary>
internal static class NvmlFeatureLabels
{
    public const string Prefix = "nvidia.com/";

    public static ImmutableSortedDictionary<string, string> For(NvmlSession session, NvmlGpuSet set, int replicas, MigStrategy strategy = MigStrategy.None)
    {
        var labels = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        void Add(string key, string value) => labels[Prefix + key] = value;
        void AddNumber(string key, ulong value) => Add(key, value.ToString(CultureInfo.InvariantCulture));

        // GFD labels GPUs in MIG mode without sharing (replicas 0); a whole GPU of the model carries the sharing.
        var whole = set.Gpus.Count(g => !g.MigEnabled);
        var gpuReplicas = set.Gpus.IsEmpty || whole > 0 ? replicas : 0;
        AddNumber("gpu.count", (ulong)set.Gpus.Length);
        AddNumber("gpu.replicas", (ulong)gpuReplicas);
        Add("gpu.sharing-strategy", SharingStrategy(gpuReplicas));
        if (!set.Gpus.IsEmpty)
        {
            var first = set.Gpus[0];
            Add("gpu.product", Product(first.Name) + (gpuReplicas > 1 ? "-SHARED" : ""));
            if (first.MemoryBytes is { } memory)
            {
                AddNumber("gpu.memory", memory / (1024 * 1024));
            }

            if (ParseComputeCapability(first.ComputeCapability) is var (major, minor))
            {
                Add("gpu.compute.major", major.ToString(CultureInfo.InvariantCulture));
                Add("gpu.compute.minor", minor.ToString(CultureInfo.InvariantCulture));
                Add("gpu.family", Family(major, minor));
            }

            Add("mig.capable", set.Gpus.Any(g => g.MigCapable) ? "true" : "false");
        }

        AddMigLabels(set, replicas, strategy, whole, Add, AddNumber);

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

    /// <summary>
    /// Under <c>single</c> the MIG devices' labels replace the <c>gpu.*</c> ones once a GPU is in MIG mode (the
    /// <c>-MIG-INVALID</c> set with count, replicas and memory 0 when single cannot advertise them: the reasons of
    /// <see cref="NvmlPublishedResources.SingleRefusal"/>); under <c>mixed</c> each profile gets <c>mig-&lt;profile&gt;.*</c>.
    /// </summary>
    private static void AddMigLabels(NvmlGpuSet set, int replicas, MigStrategy strategy, int whole, Action<string, string> add, Action<string, ulong> addNumber)
    {
        if (strategy == MigStrategy.None)
        {
            return;
        }

        add("mig.strategy", strategy == MigStrategy.Single ? "single" : "mixed");
        void AddResource(string resource, int index, int count)
        {
            var device = set.MigDevices[index];
            var model = set.Gpus[set.MigParents[index]].Name;
            add($"{resource}.product", $"{Product(model)}-MIG-{Product(device.Profile)}" + (replicas > 1 ? "-SHARED" : ""));
            addNumber($"{resource}.count", (ulong)count);
            addNumber($"{resource}.replicas", (ulong)replicas);
            add($"{resource}.sharing-strategy", SharingStrategy(replicas));
            addNumber($"{resource}.memory", device.MemoryMiB);
            addNumber($"{resource}.multiprocessors", device.Multiprocessors);
            addNumber($"{resource}.slices.gi", device.GpuSlices);
            addNumber($"{resource}.slices.ci", device.ComputeSlices);
            addNumber($"{resource}.engines.copy", device.Engines.Copy);
            addNumber($"{resource}.engines.decoder", device.Engines.Decoder);
            addNumber($"{resource}.engines.encoder", device.Engines.Encoder);
            addNumber($"{resource}.engines.jpeg", device.Engines.Jpeg);
            addNumber($"{resource}.engines.ofa", device.Engines.Ofa);
        }

        if (strategy == MigStrategy.Single)
        {
            if (whole == set.Gpus.Length)
            {
                return;
            }

            if (NvmlPublishedResources.SingleRefusal(set, whole) is not null)
            {
                add("gpu.product", $"{Product(set.Gpus.First(g => g.MigEnabled).Name)}-MIG-INVALID");
                addNumber("gpu.count", 0);
                addNumber("gpu.replicas", 0);
                addNumber("gpu.memory", 0);
                return;
            }

            AddResource("gpu", 0, set.MigDevices.Length);
            return;
        }

        foreach (var profile in Enumerable.Range(0, set.MigDevices.Length).GroupBy(k => set.MigDevices[k].Profile, StringComparer.Ordinal))
        {
            AddResource($"mig-{profile.Key}", profile.First(), profile.Count());
        }
    }

    private static string SharingStrategy(int replicas) => replicas > 1 ? "time-slicing" : "none";

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
