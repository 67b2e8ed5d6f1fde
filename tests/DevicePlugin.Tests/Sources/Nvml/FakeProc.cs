using System.Globalization;
using System.Text;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>
/// A fake <c>/proc</c> shaped like the NVIDIA driver's: <c>driver/nvidia-caps/mig-minors</c> lists every capability
/// the driver could create (config, monitor, then for each GPU minor 15 GPU instances with 8 compute instances each),
/// and <c>driver/nvidia/capabilities/gpu&lt;M&gt;/mig/gi&lt;G&gt;[/ci&lt;C&gt;]/access</c> exist for created instances.
/// </summary>
public static class FakeProc
{
    private const int GpuInstances = 15;
    private const int ComputeInstances = 8;

    /// <summary>The minor mig-minors gives gpu<paramref name="gpuMinor"/>/gi<paramref name="gi"/>[/ci<paramref name="ci"/>]/access.</summary>
    public static int CapabilityMinor(int gpuMinor, int gi, int? ci = null) =>
        3 + (gpuMinor * GpuInstances * (ComputeInstances + 1)) + (gi * (ComputeInstances + 1)) + (ci is { } c ? 1 + c : 0);

    /// <summary>Writes <c>driver/nvidia-caps/mig-minors</c> for GPU minors 0 to <paramref name="gpus"/> - 1.</summary>
    public static void WriteMigMinors(string procRoot, int gpus)
    {
        var dir = Path.Combine(procRoot, "driver", "nvidia-caps");
        Directory.CreateDirectory(dir);
        var text = new StringBuilder("config 1\nmonitor 2\n");
        for (var g = 0; g < gpus; g++)
        {
            for (var gi = 0; gi < GpuInstances; gi++)
            {
                text.Append(CultureInfo.InvariantCulture, $"gpu{g}/gi{gi}/access {CapabilityMinor(g, gi)}\n");
                for (var ci = 0; ci < ComputeInstances; ci++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"gpu{g}/gi{gi}/ci{ci}/access {CapabilityMinor(g, gi, ci)}\n");
                }
            }
        }

        File.WriteAllText(Path.Combine(dir, "mig-minors"), text.ToString());
    }

    public static void DeleteMigMinors(string procRoot) => File.Delete(Path.Combine(procRoot, "driver", "nvidia-caps", "mig-minors"));

    /// <summary>The driver's access file of one created instance (GKE and gVisor read these).</summary>
    public static void WriteAccessFile(string procRoot, int gpuMinor, int gi, int? ci, int minor)
    {
        var dir = Path.Combine(procRoot, "driver", "nvidia", "capabilities", $"gpu{gpuMinor}", "mig", $"gi{gi}");
        if (ci is { } c)
        {
            dir = Path.Combine(dir, $"ci{c}");
        }

        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "access"), $"DeviceFileMinor: {minor}\nDeviceFileMode: 292\n");
    }
}
