using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using DevicePlugin.Allocation;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Benchmarks;

/// <summary>Allocate for 4 of 8 GPUs (device nodes, shared nodes, env, and CDI names with naming Both).</summary>
[MemoryDiagnoser]
public class AllocateBenchmarks
{
    private ResourceSnapshot _snapshot = null!;
    private string[] _request = [];

    [Params(DeviceNaming.Env, DeviceNaming.Both)]
    public DeviceNaming Naming { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var devices = Enumerable.Range(0, 8)
            .Select(i => new PhysicalDevice
            {
                Id = $"GPU-{i:D8}-1111-2222-3333-444455556666",
                NumaNode = i / 4,
                DeviceNodes = [$"/dev/nvidia{i}"],
                Environment = [new("NVIDIA_VISIBLE_DEVICES", $"GPU-{i:D8}-1111-2222-3333-444455556666")],
            })
            .ToImmutableArray();
        _snapshot = new ResourceSnapshot(
            "nvidia.com/gpu", NvmlSchema.Kind, devices,
            sharedDeviceNodes: ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"],
            naming: Naming);
        _request = [devices[4].Id, devices[5].Id, devices[6].Id, devices[7].Id];
    }

    [Benchmark]
    public ContainerAllocateResponse Build() => AllocateResponseBuilder.Build(_snapshot, _request);
}
