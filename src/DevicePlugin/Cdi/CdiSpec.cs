using System.Collections.Immutable;
using DevicePlugin.Inventory;

namespace DevicePlugin.Cdi;

/// <summary>
/// The CDI spec of one resource: kind = the snapshot's CDI kind, one device per physical device with that device's own
/// edits (its device nodes, and its environment entries, each under a variable of the device's own), and the
/// resource's shared device nodes as spec-wide edits: the same per-device edits Allocate answers from.
/// Only the fields CDI 0.3.0 knows are used; <see cref="Version"/> is the lowest version the names need.
/// </summary>
public sealed record CdiSpec(
    string Version, string Kind, ImmutableArray<CdiDevice> Devices, ImmutableArray<string> SharedDeviceNodes)
{
    /// <summary>Spec file name for a kind: <c>vendor-class.json</c>, characters outside CDI's set turned into '_'.</summary>
    public static string FileNameFor(string kind) =>
        CharacterMap.Map(kind, static c => c == '/' ? '-' : char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' ? c : '_') + ".json";

    public string FileName => FileNameFor(Kind);

    /// <summary>
    /// The environment variable a CDI device sets: the resource's variable suffixed with the device name in upper
    /// snake case (<c>PCI_RESOURCE_X_COM_FPGA_0000_3B_00_0</c>). Each device needs its own variable: the runtime applies
    /// the edits of every device a container names, and a later device's value for the same variable would replace an
    /// earlier one's (and the Allocate response's full list when naming is Both).
    /// </summary>
    public static string DeviceVariable(string resourceVariable, string deviceName) =>
        $"{resourceVariable}_{ResourceSnapshot.UpperSnake(deviceName)}";

    /// <summary>
    /// Builds the spec of a snapshot. A device whose ID gives no valid CDI name, or the same name as an earlier
    /// device, is left out and described in <paramref name="problems"/>. Returns null (with the reason in
    /// <paramref name="problems"/>) when the kind is not a valid CDI kind.
    /// </summary>
    public static CdiSpec? FromSnapshot(ResourceSnapshot snapshot, List<string> problems)
    {
        if (CdiNames.KindProblem(snapshot.CdiKind) is { } kindProblem)
        {
            problems.Add(kindProblem);
            return null;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var variables = new HashSet<string>(StringComparer.Ordinal);
        var devices = ImmutableArray.CreateBuilder<CdiDevice>(snapshot.Devices.Length);
        foreach (var device in snapshot.Devices)
        {
            var name = CdiNames.DeviceName(device.Id);
            if (!CdiNames.IsValidDeviceName(name))
            {
                problems.Add($"device {device.Id}: CDI device name \"{name}\" must start and end with a letter or digit");
                continue;
            }

            if (!names.Add(name))
            {
                problems.Add($"device {device.Id}: CDI device name \"{name}\" is already used by another device");
                continue;
            }

            // The device's own environment entries, as Allocate joins them, each under a variable of its own.
            var env = ImmutableArray.CreateBuilder<string>(device.Environment.Length);
            foreach (var (resourceVariable, value) in device.Environment)
            {
                var variable = DeviceVariable(resourceVariable, name);
                for (var n = 2; !variables.Add(variable); n++)
                {
                    variable = $"{DeviceVariable(resourceVariable, name)}_{n}";
                }

                env.Add($"{variable}={value}");
            }

            devices.Add(new CdiDevice(name, device.DeviceNodes, env.MoveToImmutable()));
        }

        var version = MinimumVersion(snapshot.CdiKind, devices);
        return new CdiSpec(version, snapshot.CdiKind, devices.ToImmutable(), snapshot.SharedDeviceNodes);
    }

    /// <summary>
    /// The lowest CDI version for these names and fields (device nodes with a path, env): 0.3.0, or 0.5.0 when a device
    /// name starts with something other than a letter, or 0.6.0 when the class part of the kind has a '.'.
    /// </summary>
    public static string MinimumVersion(string kind, IEnumerable<CdiDevice> devices)
    {
        var slash = kind.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0 && kind.AsSpan(slash + 1).Contains('.'))
        {
            return "0.6.0";
        }

        return devices.Any(d => !char.IsAsciiLetter(d.Name[0])) ? "0.5.0" : "0.3.0";
    }
}
