using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using Google.Protobuf;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Benchmarks;

/// <summary>A full ListAndWatch list for 1,024 devices: build the protobuf message and serialize it.</summary>
[MemoryDiagnoser]
public class ListAndWatchEncodingBenchmarks
{
    private ResourceSnapshot _snapshot = null!;

    [GlobalSetup]
    public void Setup()
    {
        var devices = Enumerable.Range(0, 1024)
            .Select(i => new PhysicalDevice
            {
                Id = $"0000:{i / 32:x2}:{i % 32:x2}.0",
                NumaNode = i % 7 == 0 ? null : i / 512,
                Health = i % 97 == 0 ? DeviceHealth.Unhealthy : DeviceHealth.Healthy,
            })
            .ToImmutableArray();
        _snapshot = new ResourceSnapshot("example.com/fpga", PciSchema.Kind, devices);
    }

    [Benchmark]
    public byte[] EncodeAndSerialize() => ListAndWatchEncoder.Encode(_snapshot).ToByteArray();
}
