using System.Collections.Immutable;

namespace DevicePlugin.Sources.Nvml;

/// <summary>The control device nodes every GPU container needs, where the driver created them.</summary>
internal static class NvmlSharedDeviceNodes
{
    private static readonly string[] Names = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"];

    /// <summary>
    /// The host paths (<c>/dev/…</c>) of those nodes that exist under <paramref name="devRoot"/>, in a fixed order.
    /// </summary>
    public static ImmutableArray<string> Find(string devRoot)
    {
        var found = ImmutableArray.CreateBuilder<string>(Names.Length);
        foreach (var name in Names)
        {
            if (File.Exists(Path.Combine(devRoot, name)))
            {
                found.Add("/dev/" + name);
            }
        }

        return found.DrainToImmutable();
    }
}
