using System.Globalization;
using System.Text;
using DevicePlugin.Allocation;
using DevicePlugin.Inventory;
using Xunit.Abstractions;
using static DevicePlugin.Tests.Sources.Nvml.NvmlHarness;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>NVML calls counted by the stand-in: what start-up and the steady state cost, and that requests cost nothing.</summary>
public sealed class NvmlCallCountTests(ITestOutputHelper output)
{
    private static readonly string[] Functions =
    [
        "nvmlInit_v2", "nvmlShutdown", "nvmlErrorString", "nvmlSystemGetDriverVersion", "nvmlDeviceGetCount_v2",
        "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlDeviceGetPciInfo_v3",
        "nvmlDeviceGetMinorNumber", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetCudaComputeCapability",
        "nvmlDeviceGetNumaNodeId", "nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetNvLinkState",
        "nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetMigMode", "nvmlEventSetCreate",
        "nvmlDeviceGetSupportedEventTypes", "nvmlDeviceRegisterEvents", "nvmlEventSetWait_v2", "nvmlEventSetFree",
        "nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion",
    ];

    /// <summary>
    /// An 8-GPU NVSwitch node like a DGX H100: each GPU has 18 NVLinks spread over 4 switches (5 + 4 + 4 + 5),
    /// two NUMA nodes of four GPUs.
    /// </summary>
    private static string EightGpuNode()
    {
        var text = new StringBuilder(Gpus(8));
        for (var gpu = 0; gpu < 8; gpu++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"nvlink_switch {gpu} 5 0\nnvlink_switch {gpu} 4 1\nnvlink_switch {gpu} 4 2\nnvlink_switch {gpu} 5 3\n");
        }

        text.Append("topology_default 50\n");
        for (var a = 0; a < 8; a++)
        {
            for (var b = a + 1; b < 8; b++)
            {
                if (a / 4 == b / 4)
                {
                    text.Append(CultureInfo.InvariantCulture, $"topology {a} {b} {(a / 2 == b / 2 ? 20 : 40)}\n");
                }
            }
        }

        return text.ToString();
    }

    private Dictionary<string, long> CountsExceptEventWaits(FakeNvml fake) =>
        Functions.Where(f => f != "nvmlEventSetWait_v2").ToDictionary(f => f, fake.Calls);

    [Fact]
    public async Task Start_up_for_eight_gpus_makes_a_known_number_of_calls()
    {
        await using var h = Create(EightGpuNode());
        var snapshot = await h.StartAsync();
        var counts = CountsExceptEventWaits(h.Fake);
        foreach (var (function, count) in counts.Where(c => c.Value > 0))
        {
            output.WriteLine($"{function}: {count}");
        }

        output.WriteLine($"total (without nvmlEventSetWait_v2): {counts.Values.Sum()}");

        // Per node: init, driver version, CUDA version, count, one event set.
        // Per GPU: handle, UUID, PCI info, MIG mode, minor, name, memory, compute capability, NUMA node,
        //          supported events, register; NVLink state for links 0..17 plus the refused link 18; remote PCI
        //          info for each of its 18 enabled links.
        // Per pair: one common ancestor.
        var expected = new Dictionary<string, long>
        {
            ["nvmlInit_v2"] = 1, ["nvmlSystemGetDriverVersion"] = 1, ["nvmlSystemGetCudaDriverVersion_v2"] = 1, ["nvmlDeviceGetCount_v2"] = 1, ["nvmlEventSetCreate"] = 1,
            ["nvmlDeviceGetHandleByIndex_v2"] = 8, ["nvmlDeviceGetUUID"] = 8, ["nvmlDeviceGetPciInfo_v3"] = 8,
            ["nvmlDeviceGetMigMode"] = 8, ["nvmlDeviceGetMinorNumber"] = 8, ["nvmlDeviceGetName"] = 8,
            ["nvmlDeviceGetMemoryInfo"] = 8, ["nvmlDeviceGetCudaComputeCapability"] = 8, ["nvmlDeviceGetNumaNodeId"] = 8,
            ["nvmlDeviceGetSupportedEventTypes"] = 8, ["nvmlDeviceRegisterEvents"] = 8,
            ["nvmlDeviceGetNvLinkState"] = 8 * 19, ["nvmlDeviceGetNvLinkRemotePciInfo_v2"] = 8 * 18,
            ["nvmlDeviceGetTopologyCommonAncestor"] = 28,
        };
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal),
            counts.Where(c => c.Value > 0).OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(417, counts.Values.Sum());

        // What the calls found: all 8 GPUs, each pair linked through the switches by 18 links.
        Assert.Equal(8, snapshot.Devices.Length);
        Assert.Equal(18, snapshot.Topology.NvLinks(0, 7));
        Assert.Equal(InterconnectLevel.MultipleSwitches, snapshot.Topology.Level(0, 1));
        Assert.Equal(InterconnectLevel.SameNumaNode, snapshot.Topology.Level(0, 3));
        Assert.Equal(InterconnectLevel.CrossSocket, snapshot.Topology.Level(3, 4));
    }

    [Fact]
    public async Task Steady_state_costs_one_count_call_per_rescan_interval_and_two_calls_per_gpu_per_uuid_check()
    {
        await using var h = Create(EightGpuNode());
        await h.StartAsync();
        var start = CountsExceptEventWaits(h.Fake);

        // A rescan tick with nothing changed: nvmlDeviceGetCount_v2 only.
        AdvanceAndSettle(h, h.Options.RescanInterval, start["nvmlDeviceGetCount_v2"] + 1);
        var tick = CountsExceptEventWaits(h.Fake);
        Assert.Equal(Changed(start, ("nvmlDeviceGetCount_v2", 1)), tick);

        // The tick that completes the UUID check interval also reads each GPU's handle and UUID.
        AdvanceAndSettle(h, h.Options.UuidCheckInterval - h.Options.RescanInterval, tick["nvmlDeviceGetCount_v2"] + 1);
        var check = CountsExceptEventWaits(h.Fake);
        Assert.Equal(Changed(tick, ("nvmlDeviceGetCount_v2", 1), ("nvmlDeviceGetHandleByIndex_v2", 8), ("nvmlDeviceGetUUID", 8)), check);
        output.WriteLine($"per rescan tick: 1 call; per UUID check on 8 GPUs: {check.Values.Sum() - tick.Values.Sum()} calls");

        // Nothing changed, so nothing was published again.
        Assert.Equal(1, h.Sink.Count);
    }

    /// <summary>
    /// Moves the clock, waits for the health thread's count call, then for its next event wait: by then the wake
    /// that made the call has finished whatever else it was going to call.
    /// </summary>
    private static void AdvanceAndSettle(NvmlHarness h, TimeSpan by, long countCalls)
    {
        h.Time.Advance(by);
        Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlDeviceGetCount_v2") >= countCalls, WaitLimit),
            "the health thread did not check the GPU count");
        var waits = h.Fake.Calls("nvmlEventSetWait_v2");
        Assert.True(SpinWait.SpinUntil(() => h.Fake.Calls("nvmlEventSetWait_v2") > waits, WaitLimit),
            "the health thread did not wait for events again");
    }

    private static Dictionary<string, long> Changed(Dictionary<string, long> counts, params (string Function, long By)[] changes)
    {
        var copy = new Dictionary<string, long>(counts);
        foreach (var (function, by) in changes)
        {
            copy[function] += by;
        }

        return copy;
    }

    [Fact]
    public async Task Answering_allocate_and_preferred_allocation_makes_no_nvml_call()
    {
        await using var h = Create(EightGpuNode());
        var snapshot = await h.StartAsync(replicas: 2);
        var ids = snapshot.Advertised.Select(a => a.Id).ToArray();
        var before = CountsExceptEventWaits(h.Fake);

        for (var i = 0; i < 1000; i++)
        {
            var request = new[] { ids[i % ids.Length], ids[(i * 7 + 3) % ids.Length] };
            var response = AllocateResponseBuilder.Build(snapshot, request);
            Assert.NotEmpty(response.Envs["NVIDIA_VISIBLE_DEVICES"]);
            var chosen = PreferredAllocator.Choose(snapshot, ids, [ids[i % ids.Length]], 1 + (i % 8));
            Assert.Equal(1 + (i % 8), chosen.Count);
        }

        Assert.Equal(before, CountsExceptEventWaits(h.Fake));
    }
}
