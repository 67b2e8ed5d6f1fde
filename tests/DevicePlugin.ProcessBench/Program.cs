using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DevicePlugin.ProcessBench;

var options = BenchOptions.Parse(args, out var error);
if (options is null || args.Contains("--help"))
{
    await Console.Error.WriteLineAsync((error is null ? "" : $"process-bench: {error}\n") + BenchOptions.Usage);
    return error is null ? 0 : 2;
}

var repo = Publisher.FindRepositoryRoot();
string daemonPath, minimalPath;
try
{
    daemonPath = options.DaemonPath ?? await Publisher.PublishAsync(repo, "src/DevicePlugin", "daemon", "device-plugin", options.Publish);
    minimalPath = options.BaselinePath is not null ? ""
        : options.MinimalPath ?? await Publisher.PublishAsync(repo, "tests/MinimalPlugin", "minimal", "minimal-plugin", options.Publish);
}
catch (InvalidOperationException e)
{
    await Console.Error.WriteLineAsync($"process-bench: {e.Message}");
    return 1;
}

var daemon = new DaemonSubject(daemonPath, options.DaemonEnvironment);
Subject minimal = options.BaselinePath is { } baselinePath
    ? new DaemonSubject(baselinePath, options.BaselineEnvironment, "baseline")
    : new MinimalSubject(minimalPath);
Subject[] subjects = [daemon, minimal];
var results = subjects.ToDictionary(s => s.Name, _ => new Results());
var request = Enumerable.Range(options.Devices / 2, options.Devices / 2).Select(Subject.DeviceId).ToArray();
var load = Load.Read();
var clock = Stopwatch.StartNew();

void Progress(string text) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {text}");

try
{
    // One unmeasured start each: the emulator and client code in this process get compiled. With Allocate calls too:
    // otherwise the first server measured pays for this process's client code still being compiled (its figures
    // came out 30 – 50 % below the later runs').
    foreach (var s in subjects)
    {
        await using var warm = await Node.StartAsync(s, 1, options.Devices);
        if (options.Parts.Contains("memory"))
        {
            var socket = warm.Plugin(Subject.ResourceName(0)).SocketPath;
            await AllocateLoad.RunAsync(socket, 1, options.SingleClientCalls, request);
            await AllocateLoad.RunAsync(socket, options.BurstClients, Math.Min(options.BurstCallsPerClient, 1_000), request);
        }
    }

    for (var run = 0; run < (options.Parts.Contains("start") ? options.StartRuns : 0); run++)
    {
        foreach (var resources in (int[])[1, 4])
        {
            foreach (var s in subjects)
            {
                await using var node = await Node.StartAsync(s, resources, options.Devices);
                (resources == 1 ? results[s.Name].Start1 : results[s.Name].Start4).Add(node.StartMilliseconds);
            }
        }
    }

    Progress($"start to registration: {results[daemon.Name].Start1.Format()} and {results[minimal.Name].Start1.Format()}");
    for (var repeat = 0; repeat < (options.Parts.Contains("memory") ? options.Repeats : 0); repeat++)
    {
        foreach (var s in subjects)
        {
            var r = results[s.Name];
            await using var node = await Node.StartAsync(s, 1, options.Devices);
            var socket = node.Plugin(Subject.ResourceName(0)).SocketPath;
            await Task.Delay(options.IdleSettle);
            node.Server.ThrowIfExited("the idle wait");
            var idle = node.Server.RssMiB;
            r.Idle.Add(idle);

            var single = await AllocateLoad.RunAsync(socket, 1, options.SingleClientCalls, request, () => node.Server.CpuTime);
            r.SingleP50.Add(single.P50Ms);
            r.SingleP99.Add(single.P99Ms);
            r.SingleRate.Add(single.CallsPerSecond);
            var burst = await AllocateLoad.RunAsync(socket, options.BurstClients, options.BurstCallsPerClient, request, () => node.Server.CpuTime);
            node.Server.ThrowIfExited("the Allocate burst");
            r.Peak.Add(node.Server.PeakRssMiB);
            r.BurstRate.Add(burst.CallsPerSecond);
            r.BurstP50.Add(burst.P50Ms);
            r.BurstP99.Add(burst.P99Ms);
            r.SingleCpu.Add(single.ServerCpuMicroseconds);
            r.BurstCpu.Add(burst.ServerCpuMicroseconds);
            r.ClientCpu.Add(burst.ClientCpuMicroseconds);
            r.ResponseBytes = burst.ResponseBytes;
            r.Errors += single.Errors + burst.Errors;
            r.FirstError ??= single.FirstError ?? burst.FirstError;
            await Task.Delay(options.AfterBurst);
            node.Server.ThrowIfExited("the wait after the burst");
            var after = node.Server.RssMiB;
            r.After.Add(after);
            r.AfterVsIdle.Add((after / idle - 1) * 100);
            Progress($"{s.Name} run {repeat + 1}: idle {idle:0.0} MiB, peak {r.Peak.Max:0.0}, after {after:0.0}; "
                + $"{burst.CallsPerSecond:0} Allocate/s, p50 {single.P50Ms:0.00} ms, server CPU {single.ServerCpuMicroseconds:0.0} / "
                + $"{burst.ServerCpuMicroseconds:0.0} µs a call (1 / {options.BurstClients} clients), bench process CPU {burst.ClientCpuMicroseconds:0.0} µs a call, "
                + $"response {burst.ResponseBytes} B, errors {r.Errors}");
        }
    }

    var d = results[daemon.Name];
    if (!options.Parts.Contains("events"))
    {
        throw new OperationCanceledException();
    }

    d.ConfigEdit = await EventLatency.ConfigEditAsync(daemon, options.EventSamples);
    Progress($"config edit: {d.ConfigEdit.Format()}");
    d.Xid = await EventLatency.InjectedXidAsync(daemon, repo, options.EventSamples);
    Progress($"injected XID: {d.Xid.Format()}");
    d.Sysfs = await EventLatency.SysfsChangeAsync(daemon, options.EventSamples);
    Progress($"sysfs change: {d.Sysfs.Format()}");
    d.Restart = await EventLatency.KubeletRestartAsync(daemon, options.EventSamples, options.Devices);
    Progress($"kubelet restart: {d.Restart.Format()}");
}
catch (OperationCanceledException)
{
    // Only some parts were asked for.
}
catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
{
    await Console.Error.WriteLineAsync($"process-bench: {e.Message}");
    return 1;
}

Console.Out.Write(Report.Table(options, results[daemon.Name], results[minimal.Name], minimal.Name, load, Load.Read(), clock.Elapsed));
return results.Values.Any(r => r.Errors > 0) ? 1 : 0;

namespace DevicePlugin.ProcessBench
{
    /// <summary>Every series of one server.</summary>
    public sealed class Results
    {
        public Series Start1 { get; } = new("ms");

        public Series Start4 { get; } = new("ms");

        public Series Idle { get; } = new("MiB");

        public Series Peak { get; } = new("MiB");

        public Series After { get; } = new("MiB");

        public Series AfterVsIdle { get; } = new("%");

        public Series SingleP50 { get; } = new("ms");

        public Series SingleP99 { get; } = new("ms");

        public Series SingleRate { get; } = new("/s");

        public Series BurstRate { get; } = new("/s");

        public Series BurstP50 { get; } = new("ms");

        public Series BurstP99 { get; } = new("ms");

        /// <summary>The server's CPU time (user + system) per Allocate while one client called.</summary>
        public Series SingleCpu { get; } = new("µs");

        /// <summary>The server's CPU time per Allocate during the burst: steadier than throughput on shared cores.</summary>
        public Series BurstCpu { get; } = new("µs");

        /// <summary>The benchmark process's own CPU time per Allocate during the burst (its clients' share of the cores).</summary>
        public Series ClientCpu { get; } = new("µs");

        /// <summary>The encoded size of one Allocate response.</summary>
        public int ResponseBytes { get; set; }

        public long Errors { get; set; }

        public string? FirstError { get; set; }

        public Series ConfigEdit { get; set; } = new("ms");

        public Series Xid { get; set; } = new("ms");

        public Series Sysfs { get; set; } = new("ms");

        public Series Restart { get; set; } = new("ms");
    }

    /// <summary>The load average, to say under what conditions figures were taken.</summary>
    public static class Load
    {
        public static string Read()
        {
            try
            {
                return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
            }
            catch (IOException)
            {
                return "unknown";
            }
        }
    }

    /// <summary>Publishes a project as Native AOT into artifacts/process-bench/NAME.</summary>
    public static class Publisher
    {
        public static string FindRepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "DevicePlugin.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("DevicePlugin.sln not found above " + AppContext.BaseDirectory);
        }

        public static async Task<string> PublishAsync(string repo, string project, string name, string executable, bool publish)
        {
            var output = Path.Combine(repo, "artifacts", "process-bench", name);
            var path = Path.Combine(output, executable);
            if (!publish && File.Exists(path))
            {
                return path;
            }

            Console.Error.WriteLine($"publishing {project} (Native AOT) to {output} …");
            var info = new ProcessStartInfo("dotnet", ["publish", Path.Combine(repo, project), "-c", "Release", "-o", output, "-nologo"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet could not be started");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0 || !File.Exists(path))
            {
                throw new InvalidOperationException($"dotnet publish {project} failed:\n{await stdout}{await stderr}");
            }

            return path;
        }
    }

    /// <summary>The markdown table of docs/BENCHMARKS.md.</summary>
    public static class Report
    {
        public static string Table(BenchOptions o, Results d, Results m, string baseline, string loadBefore, string loadAfter, TimeSpan took)
        {
            var rows = new List<(string Measure, string Target, string Daemon, string Minimal)>
            {
                ("start to registration, 1 resource", "≤ 25 ms median", d.Start1.Format(), m.Start1.Format()),
                ("start to registration, 4 resources", "≤ 35 ms median", d.Start4.Format(), m.Start4.Format()),
                ($"RSS idle after registering, {o.Devices} devices", "≤ 24 MiB", d.Idle.Format(), m.Idle.Format()),
                ($"RSS peak, {o.BurstClients} clients × {o.BurstCallsPerClient:N0} Allocate", "≤ 48 MiB", d.Peak.Format(), m.Peak.Format()),
                ($"RSS {o.AfterBurst.TotalSeconds:0} s after the burst", "within 10 % of idle", $"{d.After.Format()}; {Signed(d.AfterVsIdle)} vs idle", $"{m.After.Format()}; {Signed(m.AfterVsIdle)} vs idle"),
                ("Allocate p50 / p99, one client", "p50 ≤ minimal's", $"{Pair(d.SingleP50, d.SingleP99)} ms", $"{Pair(m.SingleP50, m.SingleP99)} ms"),
                ($"Allocate throughput, {o.BurstClients} clients", "≥ minimal's", d.BurstRate.Format(), m.BurstRate.Format()),
                ($"Allocate p50 / p99, {o.BurstClients} clients", "–", $"{Pair(d.BurstP50, d.BurstP99)} ms", $"{Pair(m.BurstP50, m.BurstP99)} ms"),
                ($"server CPU per Allocate, {o.BurstClients} clients (one client)", "–", Cpu(d), Cpu(m)),
                ($"client CPU per Allocate, {o.BurstClients} clients; response size", "–", Client(d), Client(m)),
                ("Allocate errors", "0", d.Errors.ToString(CultureInfo.InvariantCulture), m.Errors.ToString(CultureInfo.InvariantCulture)),
                ($"injected XID to ListAndWatch, p50 / p99 of {d.Xid.Count}", "p99 ≤ 50 ms", Percentiles(d.Xid), "n/a (no health)"),
                ($"config edit to ListAndWatch, p50 / p99 of {d.ConfigEdit.Count}", "≤ 600 ms", Percentiles(d.ConfigEdit), "n/a (no config)"),
                ($"sysfs change to ListAndWatch, p50 / p99 of {d.Sysfs.Count}", "≤ 600 ms", Percentiles(d.Sysfs), "n/a (no health)"),
                ($"kubelet restart to re-registration, of {d.Restart.Count}", "≤ 10 ms median", d.Restart.Format(), "n/a (does not re-register)"),
            };
            var text = new System.Text.StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"| measure | target | device-plugin | {baseline} |");
            text.AppendLine("|---|---|---|---|");
            foreach (var (measure, target, daemon, minimal) in rows)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {measure} | {target} | {daemon} | {minimal} |");
            }

            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{(o.Quick ? "QUICK smoke run (not figures to quote); " : "")}bold = median, (min – max) over {o.Repeats} processes per server for memory and Allocate, "
                + $"{o.StartRuns} starts per server and resource count; {Environment.ProcessorCount} CPUs, {RuntimeInformation.OSDescription}, "
                + $"load average {loadBefore} before and {loadAfter} after; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; took {took:mm\\:ss}.");
            if ((d.FirstError ?? m.FirstError) is { } e)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"First Allocate error: {e}");
            }

            return text.ToString();
        }

        private static string Pair(Series p50, Series p99) => $"{Series.Number(p50.Median)} / {Series.Number(p99.Median)}";

        private static string Cpu(Results r) => $"{r.BurstCpu.Format()} ({Series.Number(r.SingleCpu.Median)} µs)";

        private static string Client(Results r) => $"{r.ClientCpu.Format()}; {r.ResponseBytes} B";

        private static string Signed(Series s) => s.Count == 0 ? "–" : $"{(s.Median >= 0 ? "+" : "")}{s.Median:0} %";

        private static string Percentiles(Series s) => s.Count == 0 ? "–"
            : $"{Series.Number(s.Median)} / {Series.Number(Series.Percentile(s.Samples, 99))} ms (max {Series.Number(s.Max)})";
    }
}
