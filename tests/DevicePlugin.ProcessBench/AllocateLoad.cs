using System.Diagnostics;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using Grpc.Core;

namespace DevicePlugin.ProcessBench;

/// <summary>Allocate calls through the in-tree gRPC client, each client on its own connection, as kubelets dial.</summary>
public static class AllocateLoad
{
    /// <param name="ServerCpuMicroseconds">the server's CPU time (user + system) per call while the calls ran; NaN when not read</param>
    /// <param name="ClientCpuMicroseconds">this process's CPU time per call while the calls ran (the clients, and the emulator's idle streams)</param>
    /// <param name="ResponseBytes">the size of one encoded Allocate response</param>
    public sealed record Result(double P50Ms, double P99Ms, double CallsPerSecond, long Errors, string? FirstError,
        double ServerCpuMicroseconds, double ClientCpuMicroseconds, int ResponseBytes);

    /// <param name="serverCpu">reads the server process's CPU time so far; read before and after the timed calls</param>
    public static async Task<Result> RunAsync(string socket, int clients, int callsPerClient, string[] deviceIds, Func<TimeSpan>? serverCpu = null)
    {
        var channels = Enumerable.Range(0, clients).Select(_ => UnixSocketChannel.Create(socket)).ToArray();
        try
        {
            var latencies = new double[clients][];
            long errors = 0;
            string? firstError = null;
            var responseBytes = 0;
            // Warm-up: connect every client and let both sides reach steady code paths.
            await Task.WhenAll(channels.Select(async c =>
            {
                var client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(c);
                for (var i = 0; i < 20; i++)
                {
                    responseBytes = (await client.AllocateAsync(Request(deviceIds))).CalculateSize();
                }
            }));

            using var self = Process.GetCurrentProcess();
            var ownBefore = self.TotalProcessorTime;
            var cpuBefore = serverCpu?.Invoke();
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(index => Task.Run(async () =>
            {
                var client = new Api.V1Beta1.DevicePlugin.DevicePluginClient(channels[index]);
                var request = Request(deviceIds);
                var own = latencies[index] = new double[callsPerClient];
                for (var i = 0; i < callsPerClient; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    try
                    {
                        var response = await client.AllocateAsync(request);
                        if (response.ContainerResponses.Count != 1 || response.ContainerResponses[0].Envs.Count == 0)
                        {
                            throw new InvalidOperationException("an Allocate response without the container's environment");
                        }
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, e.Message, null);
                    }

                    own[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                }
            })));
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var cpu = serverCpu is null || cpuBefore is not { } before ? double.NaN : (serverCpu() - before).TotalMicroseconds;
            self.Refresh();
            var own = (self.TotalProcessorTime - ownBefore).TotalMicroseconds;
            var all = latencies.SelectMany(l => l).ToArray();
            return new Result(Series.Percentile(all, 50), Series.Percentile(all, 99), all.Length / seconds, errors, firstError,
                cpu / all.Length, own / all.Length, responseBytes);
        }
        finally
        {
            foreach (var c in channels)
            {
                c.Dispose();
            }
        }
    }

    private static AllocateRequest Request(string[] deviceIds)
    {
        var container = new ContainerAllocateRequest();
        container.DevicesIds.Add(deviceIds);
        var request = new AllocateRequest();
        request.ContainerRequests.Add(container);
        return request;
    }
}
