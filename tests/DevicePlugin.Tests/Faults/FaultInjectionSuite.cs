using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using DevicePlugin.Tests.Kubelet;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;
using Xunit.Abstractions;

namespace DevicePlugin.Tests.Faults;

/// <summary>
/// One daemon process, one fault after another: configuration truncated, swapped mid-write, made a FIFO, oversized,
/// deep and huge; malformed HTTP/2 frames and protobuf; oversized IDs; a second daemon; a kubelet that hangs in
/// Register and is replaced; the kubelet directory gone and back. After every fault the daemon must still run, still
/// advertise the last good configuration and answer a valid Allocate. Each fault and what came of it is written to
/// the test output. Every wait is bounded.
/// </summary>
public sealed class FaultInjectionSuite(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const string Refused = "configuration change refused";
    private const string Applied = "changed: applied (";

    /// <summary>The good configuration: sim-1 unhealthy, so any other configuration that slipped through shows.</summary>
    private static readonly string Good = Configs.Simulated(sim1Health: "Unhealthy");

    [Fact]
    public async Task The_daemon_survives_every_fault_keeps_the_last_good_configuration_and_answers_every_later_call()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("device-plugins");
        var config = dir.Combine("config.yaml");
        await File.WriteAllTextAsync(config, Good);
        var kubelet = new EmulatedKubelet(kubeletDir);
        await kubelet.StartAsync();
        string[] args = ["--kubelet-dir", kubeletDir, "--config", config, "--metrics-address=", "--pod-resources-socket="];
        using var daemon = new DaemonProcess(args);
        var tried = new List<string>();
        try
        {
            var plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, Wait);
            await plugin.WaitForListAsync(IsGood, Wait);

            async Task Probe(string fault, Func<Task<string>> inject, bool sameStream = true)
            {
                var outcome = await inject();
                Assert.False(daemon.HasExited, $"the daemon exited after: {fault}\n{daemon.Stderr}");
                if (!sameStream)
                {
                    plugin = await kubelet.WaitForRegistrationAsync(Configs.Gpu, Wait);
                }

                await plugin.WaitForListAsync(IsGood, Wait);
                Assert.True(plugin.Lists.All(IsGood), $"a list other than the good configuration's went out after: {fault}");
                Assert.False(plugin.StreamEnded, $"the stream ended after: {fault}");
                var ok = await plugin.AllocateAsync("sim-0");
                Assert.Equal("sim-0", ok.ContainerResponses[0].Envs["SIMULATED_DEVICES"]);
                var line = $"fault: {fault} -> {outcome}; daemon up, last good configuration kept, Allocate answered";
                tried.Add(line);
                output.WriteLine(line);
            }

            // Each fault's content differs from the one before: the watcher refuses the same bytes only once.
            async Task<string> RefusedAfter(Func<Task> write)
            {
                var before = Count(daemon.Stderr, Refused);
                await write();
                await Eventually.TrueAsync(() => Count(daemon.Stderr, Refused) > before, "the change is refused", Wait);
                var reason = daemon.Stderr.Split('\n').Last(l => l.Contains(Refused, StringComparison.Ordinal));
                Assert.True(reason.Length < 1024, $"a refusal line of {reason.Length} characters");
                // Back to the good configuration, and wait until the watcher has settled on it: otherwise the next fault
                // may be written before it did, and one equal to what the watcher last handled (an empty file seen while
                // the good one was being written, under load) would not count as a change.
                var applied = Count(daemon.Stderr, Applied);
                File.Delete(config); // it may be a FIFO, which an open for writing would wait on
                await File.WriteAllTextAsync(config, Good);
                await Eventually.TrueAsync(() => Count(daemon.Stderr, Applied) > applied, "the good configuration is applied again", Wait);
                return "refused: " + reason[(reason.IndexOf(Refused, StringComparison.Ordinal) + Refused.Length)..].Trim(' ', ',', ':');
            }

            // Configuration faults.
            await Probe("config cut at a line boundary, then completed (a non-atomic write)", async () =>
            {
                var bytes = Encoding.UTF8.GetBytes(Good);
                await File.WriteAllBytesAsync(config, bytes[..(Good.IndexOf("- id: sim-2", StringComparison.Ordinal))]);
                await File.WriteAllTextAsync(config, Good);
                // A refusal afterwards proves the watcher has looked at the file since.
                return await RefusedAfter(() => File.WriteAllTextAsync(config, "# after the cut\n"));
            });
            await Probe("config truncated to empty", () => RefusedAfter(() => File.WriteAllTextAsync(config, "")));
            await Probe("config holding only comments", () => RefusedAfter(() => File.WriteAllTextAsync(config, "# being edited\n")));
            await Probe("config swapped for a FIFO", () => RefusedAfter(async () =>
            {
                File.Delete(config);
                using var mkfifo = Process.Start("mkfifo", [config])!;
                await mkfifo.WaitForExitAsync();
            }));
            await Probe("config of 2 MiB", () => RefusedAfter(() => File.WriteAllTextAsync(config, Good + "\n#" + new string('x', 2 * 1024 * 1024))));
            await Probe("config nested 100,000 levels deep", () => RefusedAfter(() =>
                File.WriteAllTextAsync(config, "resources: " + new string('[', 100_000) + new string(']', 100_000) + "\n")));
            await Probe("config with a 500 KB resource name", () => RefusedAfter(() =>
                File.WriteAllTextAsync(config, Good.Replace(Configs.Gpu, "example.com/" + new string('g', 500_000), StringComparison.Ordinal))));

            // Request faults on the plugin's own socket.
            await Probe("malformed HTTP/2 frame (SETTINGS of 5 bytes)", async () =>
            {
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(plugin.SocketPath));
                var preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
                await socket.SendAsync(preface.Concat(new byte[] { 0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5 }).ToArray());
                using var limit = new CancellationTokenSource(Wait);
                var buffer = new byte[4096];
                while (await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token) > 0)
                {
                }

                return "the server closed that connection";
            });
            await Probe("malformed protobuf in Allocate", async () =>
            {
                using var channel = UnixSocketChannel.Create(plugin.SocketPath);
                var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().AsyncUnaryCall(
                    MalformedRequestTests.Raw("Allocate"), null, new CallOptions(deadline: DateTime.UtcNow.Add(Wait)), [0x0A, 0x05, 0x01]));
                Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
                return $"{e.StatusCode}: {e.Status.Detail}";
            });
            await Probe("a 64 KiB device ID in Allocate", async () =>
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => plugin.AllocateAsync("sim-" + new string('x', 64 * 1024)));
                Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
                return $"{e.StatusCode} ({e.Status.Detail.Length} characters of detail)";
            });

            // Process and kubelet faults.
            await Probe("a second daemon on the same kubelet directory", async () =>
            {
                using var second = new DaemonProcess(args);
                Assert.Equal(1, await second.WaitForExitAsync(Wait));
                return "exit 1: " + second.Stderr.Trim();
            });
            await Probe("a kubelet that hangs in Register, then is replaced", async () =>
            {
                var registrations = kubelet.RegisterCalls;
                using (kubelet.HoldRegistrations())
                {
                    await kubelet.RestartAsync();
                    await Eventually.TrueAsync(() => kubelet.RegisterCalls > registrations, "the plugin calls Register on the hung kubelet", Wait);
                    var replacement = new EmulatedKubelet(kubeletDir);
                    await replacement.StartAsync();
                    await replacement.WaitForRegistrationAsync(Configs.Gpu, Wait);
                    var hung = kubelet;
                    kubelet = replacement;
                    await hung.DisposeAsync();
                }

                return "registered with the replacement kubelet";
            }, sameStream: false);
            await Probe("the kubelet directory removed, then created again", async () =>
            {
                await kubelet.StopAsync();
                // The daemon may be recreating its socket in there meanwhile: delete until the directory is gone.
                await Eventually.TrueAsync(() =>
                {
                    try
                    {
                        Directory.Delete(kubeletDir, recursive: true);
                    }
                    catch (IOException)
                    {
                    }

                    return !Directory.Exists(kubeletDir);
                }, "the kubelet directory is removed", Wait);
                await Eventually.TrueAsync(() => daemon.Stderr.Contains($"the kubelet directory {kubeletDir} does not exist", StringComparison.Ordinal),
                    "the daemon names the missing directory", Wait);
                var back = new EmulatedKubelet(kubeletDir);
                await back.StartAsync();
                await back.WaitForRegistrationAsync(Configs.Gpu, Wait);
                await kubelet.DisposeAsync();
                kubelet = back;
                await Eventually.TrueAsync(() => File.Exists(Path.Combine(kubeletDir, ".device-plugin.lock")), "the instance lock is taken again", Wait);
                return "named the missing directory, registered again when it came back, lock taken again";
            }, sameStream: false);

            daemon.Signal(15);
            Assert.Equal(0, await daemon.WaitForExitAsync(Wait));
            output.WriteLine($"{tried.Count} faults tried; SIGTERM afterwards: exit 0");
        }
        finally
        {
            await kubelet.DisposeAsync();
        }
    }

    private static bool IsGood(RecordedList list) =>
        list.Devices.Count == 5 && !list.IsHealthy("sim-1") && list.IsHealthy("sim-0") && list.IsHealthy("sim-2");

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
