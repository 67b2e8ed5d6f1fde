using System.Globalization;
using DevicePlugin.Cli;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Sources.Nvml;

/// <summary>
/// The minors of the MIG capability device nodes (<c>/dev/nvidia-caps/nvidia-cap&lt;N&gt;</c>), read under
/// <c>--proc-root</c>: first <c>driver/nvidia-caps/mig-minors</c> (lines <c>gpu0/gi1/access 12</c>, keyed by the GPU's
/// minor), else the capability's <c>access</c> file under <c>driver/nvidia/capabilities/</c>, which holds
/// <c>DeviceFileMinor: N</c>. Read once per discovery, never on a request; files are bounded in size.
/// </summary>
internal sealed class NvmlMigCapabilities
{
    private const int MaxFileBytes = 1024 * 1024;

    private readonly string _procRoot;
    private readonly Dictionary<string, uint> _minors;

    private NvmlMigCapabilities(string procRoot, Dictionary<string, uint> minors)
    {
        _procRoot = procRoot;
        _minors = minors;
    }

    public static NvmlMigCapabilities Read(string procRoot, ILogger logger)
    {
        var path = Path.Combine(procRoot, "driver", "nvidia-caps", "mig-minors");
        var minors = new Dictionary<string, uint>(StringComparer.Ordinal);
        if (ReadBounded(path, logger) is { } text)
        {
            foreach (var line in text.Split('\n'))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 2 && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
                {
                    minors[parts[0]] = minor;
                }
            }
        }

        return new NvmlMigCapabilities(procRoot, minors);
    }

    /// <summary>The capability minor of GPU instance <paramref name="gi"/> (and compute instance <paramref name="ci"/>).</summary>
    public bool TryFind(uint gpuMinor, uint gi, uint? ci, ILogger logger, out uint minor)
    {
        var key = ci is { } c
            ? string.Create(CultureInfo.InvariantCulture, $"gpu{gpuMinor}/gi{gi}/ci{c}/access")
            : string.Create(CultureInfo.InvariantCulture, $"gpu{gpuMinor}/gi{gi}/access");
        if (_minors.TryGetValue(key, out minor))
        {
            return true;
        }

        // The driver's own capability file: gpu<M>/mig/gi<G>[/ci<C>]/access.
        var access = ci is { } cc
            ? Path.Combine(_procRoot, "driver", "nvidia", "capabilities", $"gpu{gpuMinor}", "mig", $"gi{gi}", $"ci{cc}", "access")
            : Path.Combine(_procRoot, "driver", "nvidia", "capabilities", $"gpu{gpuMinor}", "mig", $"gi{gi}", "access");
        if (ReadBounded(access, logger) is { } text)
        {
            foreach (var line in text.Split('\n'))
            {
                const string Prefix = "DeviceFileMinor:";
                if (line.StartsWith(Prefix, StringComparison.Ordinal)
                    && uint.TryParse(line.AsSpan(Prefix.Length).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out minor))
                {
                    return true;
                }
            }
        }

        minor = 0;
        return false;
    }

    private static string? ReadBounded(string path, ILogger logger)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 4096, FileOptions.None);
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(MaxFileBytes);
            try
            {
                var total = 0;
                int read;
                while (total < MaxFileBytes && (read = stream.Read(buffer, total, MaxFileBytes - total)) > 0)
                {
                    total += read;
                }

                return System.Text.Encoding.ASCII.GetString(buffer, 0, total);
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            NvmlLog.MigCapabilityUnreadable(logger, path, OsErrorText.Of(e));
            return null;
        }
    }
}
