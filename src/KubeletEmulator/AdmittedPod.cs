using DevicePlugin.Api.V1Beta1;

namespace DevicePlugin.KubeletEmulator;

/// <summary>A pod the emulated kubelet admitted: what each container got, resource by resource.</summary>
/// <param name="Name">The pod's name.</param>
/// <param name="Namespace">The pod's namespace.</param>
/// <param name="Uid">A unique id the emulator gave the pod.</param>
/// <param name="Spec">The spec it was admitted from.</param>
/// <param name="Allocations">One entry per (container, resource), in admission order: init containers first.</param>
public sealed record AdmittedPod(string Name, string Namespace, string Uid, PodSpec Spec, IReadOnlyList<ContainerAllocation> Allocations)
{
    /// <summary>The devices <paramref name="containerName"/> holds of <paramref name="resourceName"/> (empty when none).</summary>
    public IReadOnlyList<string> DevicesOf(string containerName, string resourceName) =>
        Allocations.FirstOrDefault(a => a.ContainerName == containerName && a.ResourceName == resourceName)?.DeviceIds ?? [];

    /// <summary>The allocation of <paramref name="containerName"/> for <paramref name="resourceName"/>.</summary>
    /// <exception cref="KeyNotFoundException">That container got nothing of that resource.</exception>
    public ContainerAllocation Allocation(string containerName, string resourceName) =>
        Allocations.FirstOrDefault(a => a.ContainerName == containerName && a.ResourceName == resourceName)
        ?? throw new KeyNotFoundException($"pod {Namespace}/{Name} has no allocation of {resourceName} for container {containerName}");
}

/// <summary>What one container got of one resource, and the calls the kubelet made to the plugin for it.</summary>
/// <param name="ContainerName">The container.</param>
/// <param name="IsInit">True for an init container.</param>
/// <param name="Restartable">True for a sidecar init container.</param>
/// <param name="ResourceName">The extended resource.</param>
/// <param name="DeviceIds">The devices allocated, in the order sent in Allocate.</param>
/// <param name="ReusedDeviceIds">Devices taken over from earlier init containers of the pod (sent as <c>must_include</c>).</param>
/// <param name="NumaHint">The NUMA affinity the device manager honoured; empty when there was none.</param>
/// <param name="Preferred">The GetPreferredAllocation call, when the kubelet made one.</param>
/// <param name="Response">The plugin's container response to Allocate.</param>
/// <param name="PreStartCalls">How many PreStartContainer calls were made for this container and resource.</param>
/// <param name="DeviceNumaNodes">Each allocated device's NUMA nodes as the plugin advertised them (empty when unknown).</param>
public sealed record ContainerAllocation(
    string ContainerName,
    bool IsInit,
    bool Restartable,
    string ResourceName,
    IReadOnlyList<string> DeviceIds,
    IReadOnlyList<string> ReusedDeviceIds,
    IReadOnlyList<long> NumaHint,
    PreferredAllocationCall? Preferred,
    ContainerAllocateResponse Response,
    int PreStartCalls,
    IReadOnlyDictionary<string, IReadOnlyList<long>> DeviceNumaNodes);

/// <summary>A GetPreferredAllocation call made during admission: what was asked and what came back.</summary>
/// <param name="Available">The <c>available_deviceIDs</c> sent.</param>
/// <param name="MustInclude">The <c>must_include_deviceIDs</c> sent.</param>
/// <param name="Size">The <c>allocation_size</c> sent.</param>
/// <param name="Returned">The IDs the plugin returned (the kubelet keeps only those in <paramref name="Available"/>).</param>
public sealed record PreferredAllocationCall(
    IReadOnlyList<string> Available, IReadOnlyList<string> MustInclude, int Size, IReadOnlyList<string> Returned);

/// <summary>A pod the emulated kubelet refused; the message says which container, resource and why.</summary>
public sealed class PodAdmissionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PodAdmissionException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PodAdmissionException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PodAdmissionException(string message)
        : base(message)
    {
    }
}
