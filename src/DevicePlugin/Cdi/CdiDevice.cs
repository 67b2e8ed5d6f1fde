using System.Collections.Immutable;

namespace DevicePlugin.Cdi;

/// <summary>One device of a CDI spec: its name and the edits a container naming it gets.</summary>
/// <param name="Name">CDI device name (<see cref="Allocation.CdiNames.DeviceName"/> of the physical ID).</param>
/// <param name="DeviceNodes">Host paths of the device's nodes (container path = host path).</param>
/// <param name="Env"><c>NAME=value</c> entries.</param>
public sealed record CdiDevice(string Name, ImmutableArray<string> DeviceNodes, ImmutableArray<string> Env);
