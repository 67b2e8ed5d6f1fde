using System.Text.Json;
using System.Text.RegularExpressions;

namespace DevicePlugin.Tests.Cdi;

/// <summary>
/// Checks a CDI spec document against the CDI schema's required fields and name rules, written from the spec and
/// independent of the plugin's writer: cdiVersion a released version at least as high as the names need, kind
/// vendor/class, devices non-empty with valid unique names and non-empty containerEdits, device nodes with a path,
/// env entries NAME=value, and no field a runtime would refuse as unknown. Returns the problems found.
/// </summary>
public static partial class CdiSpecValidator
{
    private static readonly string[] Versions = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"];
    private static readonly string[] SpecFields = ["cdiVersion", "kind", "annotations", "devices", "containerEdits"];
    private static readonly string[] DeviceFields = ["name", "annotations", "containerEdits"];
    private static readonly string[] EditFields = ["env", "deviceNodes", "hooks", "mounts", "intelRdt", "additionalGids"];
    private static readonly string[] NodeFields =
        ["path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid"];

    [GeneratedRegex("^[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?/[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")]
    private static partial Regex KindPattern();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9_.:-]*[A-Za-z0-9])?$")]
    private static partial Regex DeviceNamePattern();

    [GeneratedRegex("^[^=]+=")]
    private static partial Regex EnvPattern();

    public static List<string> Validate(JsonElement spec)
    {
        var problems = new List<string>();
        if (spec.ValueKind != JsonValueKind.Object)
        {
            problems.Add("spec is not an object");
            return problems;
        }

        Fields(spec, SpecFields, "spec", problems);
        var version = String(spec, "cdiVersion", "spec", problems);
        var kind = String(spec, "kind", "spec", problems);
        if (kind is not null && !KindPattern().IsMatch(kind))
        {
            problems.Add($"kind \"{kind}\" is not vendor/class");
        }

        var needed = "0.3.0";
        if (!spec.TryGetProperty("devices", out var devices) || devices.ValueKind != JsonValueKind.Array)
        {
            problems.Add("spec has no devices array");
        }
        else if (devices.GetArrayLength() == 0)
        {
            problems.Add("devices is empty");
        }
        else
        {
            var names = new HashSet<string>();
            foreach (var device in devices.EnumerateArray())
            {
                Fields(device, DeviceFields, "device", problems);
                var name = String(device, "name", "device", problems);
                if (name is not null)
                {
                    if (!DeviceNamePattern().IsMatch(name))
                    {
                        problems.Add($"device name \"{name}\" is not valid");
                    }
                    else if (!char.IsAsciiLetter(name[0]) && string.CompareOrdinal(needed, "0.5.0") < 0)
                    {
                        needed = "0.5.0";
                    }

                    if (!names.Add(name))
                    {
                        problems.Add($"device name \"{name}\" appears twice");
                    }
                }

                if (!device.TryGetProperty("containerEdits", out var edits))
                {
                    problems.Add($"device \"{name}\" has no containerEdits");
                }
                else if (Edits(edits, $"device \"{name}\"", problems) == 0)
                {
                    problems.Add($"device \"{name}\" has empty containerEdits");
                }
            }
        }

        if (spec.TryGetProperty("containerEdits", out var specEdits))
        {
            Edits(specEdits, "spec", problems);
        }

        if (kind is not null && kind.Split('/') is [_, var cls] && cls.Contains('.'))
        {
            needed = "0.6.0";
        }

        if (version is not null)
        {
            if (!Versions.Contains(version))
            {
                problems.Add($"cdiVersion \"{version}\" is not a released CDI version");
            }
            else if (string.CompareOrdinal(version, needed) < 0)
            {
                problems.Add($"cdiVersion {version} is lower than the {needed} the names need");
            }
        }

        return problems;
    }

    /// <summary>Validates the edits object; returns how many edits it holds.</summary>
    private static int Edits(JsonElement edits, string where, List<string> problems)
    {
        if (edits.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{where}: containerEdits is not an object");
            return 0;
        }

        Fields(edits, EditFields, $"{where} containerEdits", problems);
        var count = 0;
        if (edits.TryGetProperty("env", out var env))
        {
            foreach (var entry in env.EnumerateArray())
            {
                count++;
                if (entry.ValueKind != JsonValueKind.String || !EnvPattern().IsMatch(entry.GetString()!))
                {
                    problems.Add($"{where}: env entry {entry} is not NAME=value");
                }
            }
        }

        if (edits.TryGetProperty("deviceNodes", out var nodes))
        {
            foreach (var node in nodes.EnumerateArray())
            {
                count++;
                Fields(node, NodeFields, $"{where} deviceNode", problems);
                var path = String(node, "path", $"{where} deviceNode", problems);
                if (path is not null && !path.StartsWith('/'))
                {
                    problems.Add($"{where}: device node path \"{path}\" is not absolute");
                }
            }
        }

        return count;
    }

    private static string? String(JsonElement element, string name, string where, List<string> problems)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String
            || value.GetString() is not { Length: > 0 } text)
        {
            problems.Add($"{where}: required field {name} is missing or not a non-empty string");
            return null;
        }

        return text;
    }

    private static void Fields(JsonElement element, string[] known, string where, List<string> problems)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!known.Contains(property.Name))
            {
                problems.Add($"{where}: unknown field {property.Name}");
            }
        }
    }
}
