using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using DevicePlugin.Kubelet;
using DevicePlugin.Metrics;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using DevicePlugin.Sources.Nvml;

namespace DevicePlugin.Benchmarks;

/// <summary>
/// What the daemon itself allocates per kubelet call, 8 GPUs (naming env, 4 shared nodes): one Allocate for 4 of
/// them through the service (response included, the metrics as the interceptor records them), and one ListAndWatch
/// send: the list is encoded once per snapshot, then serialized per stream.
/// </summary>
[MemoryDiagnoser]
public class KubeletCallBenchmarks
{
    private DevicePluginService _service = null!;
    private AllocateRequest _request = null!;
    private ResourceSnapshot _snapshot = null!;
    private ListAndWatchResponse _list = null!;
    private PluginMetrics _metrics = null!;
    private byte[] _buffer = new byte[64 * 1024];

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
            sharedDeviceNodes: ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]);
        var feed = new SnapshotFeed(_snapshot);
        _service = new DevicePluginService(feed, new StreamLifetime(), NullLogger<DevicePluginService>.Instance);
        _request = new AllocateRequest();
        _request.ContainerRequests.Add(new ContainerAllocateRequest { DevicesIds = { devices[4].Id, devices[5].Id, devices[6].Id, devices[7].Id } });
        _list = feed.ListFor(_snapshot);
        _metrics = new PluginMetrics(() => [], () => []);
    }

    [GlobalCleanup]
    public void Cleanup() => _metrics.Dispose();

    [Benchmark]
    public AllocateResponse Allocate()
    {
        var response = _service.Allocate(_request, null!).Result;
        _metrics.Allocation("nvidia.com/gpu", "ok", TimeSpan.FromTicks(10));
        return response;
    }

    [Benchmark]
    public ListAndWatchResponse ListAndWatchEncode() => ListAndWatchEncoder.Encode(_snapshot);

    /// <summary>A send to one stream: gRPC serializes the cached message into its own pooled buffer, as here.</summary>
    [Benchmark]
    public int ListAndWatchSend()
    {
        var size = _list.CalculateSize();
        _list.WriteTo(_buffer.AsSpan(0, size));
        return size;
    }
}
