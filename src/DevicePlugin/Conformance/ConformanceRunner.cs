using System.Diagnostics;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using Grpc.Core;

namespace DevicePlugin.Conformance;

/// <summary>
/// Plays the kubelet on a directory (the emulator: Registration with the kubelet's validation and dial-back), waits for
/// the plugin(s) to register, and checks each resource against the kubelet's contract (<see cref="Checks"/>). This file
/// discovers the resources, runs the checks in order and holds the registration, options and list checks;
/// GetPreferredAllocation, Allocate and the kubelet restart have a file each.
/// </summary>
public sealed partial class ConformanceRunner(ConformanceOptions options)
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StreamHold = TimeSpan.FromSeconds(1);
    private const int MaxDevicesAllocatedAlone = 64;
    private const string UnknownDeviceId = "conformance-unknown-device";

    /// <summary>Called as each check finishes (the command prints progress with it).</summary>
    public event Action<CheckResult>? CheckFinished;

    public async Task<ConformanceReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        var results = new List<CheckResult>();
        await using var kubelet = new EmulatedKubelet(options.KubeletDirectory);
        await kubelet.StartAsync(cancellationToken);

        var names = await DiscoverAsync(kubelet, cancellationToken);
        if (names.Count == 0)
        {
            Add(results, new CheckResult("(none)", Checks.Accepted, CheckStatus.Failed,
                $"no plugin called Register on {kubelet.SocketPath} within {options.RegistrationTimeout.TotalSeconds:0.#} s", total.Elapsed));
            return new ConformanceReport(options.KubeletDirectory, results, total.Elapsed);
        }

        var registered = new List<string>();
        foreach (var name in names)
        {
            var connected = await CheckResourceAsync(kubelet, name, results, cancellationToken);
            if (connected)
            {
                registered.Add(name);
            }
        }

        await CheckRestartAsync(kubelet, names, registered, results, cancellationToken);

        // Reported per resource in the order of Checks.All, whatever order they ran in.
        var order = Checks.All.Select((c, i) => (c.Name, i)).ToDictionary(c => c.Name, c => c.i, StringComparer.Ordinal);
        var sorted = results.OrderBy(r => names.ToList().IndexOf(r.Resource)).ThenBy(r => order[r.Name]).ToArray();
        return new ConformanceReport(options.KubeletDirectory, sorted, total.Elapsed);
    }

    private void Add(List<CheckResult> results, CheckResult result)
    {
        results.Add(result);
        CheckFinished?.Invoke(result);
    }

    /// <summary>The named resources, or those that called Register within the window after the first call.</summary>
    private async Task<IReadOnlyList<string>> DiscoverAsync(EmulatedKubelet kubelet, CancellationToken cancellationToken)
    {
        if (options.Resources.Count > 0)
        {
            return options.Resources;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RegistrationTimeout);
        if (!await WaitUntilAsync(kubelet, () => kubelet.RegistrationAttempts.Count > 0, timeout.Token))
        {
            return [];
        }

        // Others may follow: wait out the window, then take every resource that tried.
        try
        {
            await Task.Delay(options.DiscoveryWindow, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }

        return kubelet.RegistrationAttempts.Select(a => a.Request.ResourceName).Distinct(StringComparer.Ordinal).ToArray();
    }

    private static async Task<bool> WaitUntilAsync(EmulatedKubelet kubelet, Func<bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            var next = kubelet.NextChange;
            if (condition())
            {
                return true;
            }

            try
            {
                await next.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return condition();
            }
        }
    }

    /// <summary>Runs every non-disruptive check of one resource; returns whether it registered.</summary>
    private async Task<bool> CheckResourceAsync(EmulatedKubelet kubelet, string name, List<CheckResult> results, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        void Pass(string check) => Add(results, new CheckResult(name, check, CheckStatus.Passed, null, clock.Elapsed));
        void Fail(string check, string reason) => Add(results, new CheckResult(name, check, CheckStatus.Failed, reason, clock.Elapsed));
        void Skip(string check, string reason) => Add(results, new CheckResult(name, check, CheckStatus.Skipped, reason, clock.Elapsed));
        void Result(string check, string? problem)
        {
            if (problem is null)
            {
                Pass(check);
            }
            else
            {
                Fail(check, problem);
            }

            clock.Restart();
        }

        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(options.RegistrationTimeout);
            await WaitUntilAsync(kubelet, () => kubelet.Plugins.ContainsKey(name), timeout.Token);
        }

        var attempts = kubelet.RegistrationAttempts.Where(a => a.Request.ResourceName == name).ToArray();
        kubelet.Plugins.TryGetValue(name, out var plugin);
        if (attempts.Length == 0)
        {
            foreach (var check in new[] { Checks.Version, Checks.ResourceName, Checks.Endpoint, Checks.ServingBeforeRegister })
            {
                Skip(check, $"no Register call for {name}");
            }

            Fail(Checks.Accepted, $"no Register call for {name} within {options.RegistrationTimeout.TotalSeconds:0.#} s");
            SkipRest(name, results, "the plugin never registered");
            return false;
        }

        var first = attempts[0];
        Result(Checks.Version, first.Request.Version == "v1beta1" ? null : $"version is \"{first.Request.Version}\", the kubelet accepts only \"v1beta1\"");
        Result(Checks.ResourceName, ResourceNames.Validate(first.Request.ResourceName));
        Result(Checks.Endpoint, EndpointProblem(kubelet.Directory, (plugin?.Endpoint ?? first.Request.Endpoint)));
        Result(Checks.ServingBeforeRegister, first.EndpointServing ? null
            : $"nothing served the endpoint when Register arrived ({first.EndpointProblem}); a kubelet dials back inside the call");
        if (plugin is null)
        {
            Result(Checks.Accepted, "every registration was refused: " + string.Join("; ", attempts.Select(a => a.Error)));
            SkipRest(name, results, "the plugin never registered");
            return false;
        }

        Result(Checks.Accepted, null);
        Result(Checks.Options, plugin.Options.Equals(plugin.RegisteredOptions) ? null
            : $"RegisterRequest.options {{{plugin.RegisteredOptions}}} but GetDevicePluginOptions answered {{{plugin.Options}}} (the kubelet uses the latter)");

        RecordedList? firstList = null;
        try
        {
            firstList = await plugin.WaitForListAsync(_ => true, Prompt);
            Result(Checks.FirstList, null);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            Result(Checks.FirstList, e is TimeoutException
                ? $"no ListAndWatch list within {Prompt.TotalSeconds:0} s of registration"
                : $"the stream ended before the first list ({plugin.StreamEndStatus})");
        }

        var healthy = firstList is null ? [] : (plugin.LatestList ?? firstList).Devices
            .Where(d => d.Health == "Healthy").Select(d => d.ID).Distinct(StringComparer.Ordinal).ToArray();
        await CheckPreferredAsync(plugin, healthy, Result, Skip, cancellationToken);
        await CheckAllocateAsync(plugin, healthy, Result, Skip, cancellationToken);

        if (!plugin.Options.PreStartRequired)
        {
            Skip(Checks.PreStart, "the plugin does not ask for PreStartContainer");
        }
        else if (healthy.Length == 0)
        {
            Skip(Checks.PreStart, "no healthy device");
        }
        else
        {
            Result(Checks.PreStart, await RpcProblemAsync(() => plugin.PreStartContainerAsync([healthy[0]], cancellationToken), $"PreStartContainer [{healthy[0]}]"));
        }

        var lists = plugin.Lists;
        Result(Checks.DeviceIds, lists.Count == 0 ? "no list received" : lists.Select(l => DeviceIdProblem(l.Devices)).FirstOrDefault(p => p is not null));
        Result(Checks.Health, lists.Count == 0 ? "no list received" : lists.SelectMany(l => l.Devices)
            .Where(d => d.Health is not ("Healthy" or "Unhealthy"))
            .Select(d => $"device {d.ID} has health \"{d.Health}\" (only \"Healthy\" or \"Unhealthy\")").FirstOrDefault());
        Result(Checks.NumaNodes, lists.Count == 0 ? "no list received" : lists.SelectMany(l => l.Devices)
            .Where(d => d.Topology?.Nodes.Any(n => n.ID < 0) == true)
            .Select(d => $"device {d.ID} has NUMA node {d.Topology.Nodes.First(n => n.ID < 0).ID}").FirstOrDefault());

        if (!plugin.StreamEnded)
        {
            try
            {
                await plugin.WaitForStreamEndAsync(StreamHold);
            }
            catch (OperationCanceledException)
            {
            }
        }

        Result(Checks.StreamOpen, plugin.StreamEnded ? $"the ListAndWatch stream ended ({plugin.StreamEndStatus}); a kubelet then marks every device unhealthy and never reopens it" : null);
        return true;
    }

    private void SkipRest(string name, List<CheckResult> results, string reason)
    {
        var from = Checks.All.ToList().FindIndex(c => c.Name == Checks.Options);
        foreach (var (check, _) in Checks.All.Skip(from))
        {
            if (!check.StartsWith("restart.", StringComparison.Ordinal))
            {
                Add(results, new CheckResult(name, check, CheckStatus.Skipped, reason, TimeSpan.Zero));
            }
        }
    }

    private static string? EndpointProblem(string directory, string endpoint)
    {
        if (string.IsNullOrEmpty(endpoint) || endpoint.Contains('/', StringComparison.Ordinal) || endpoint is "." or "..")
        {
            return $"endpoint \"{endpoint}\" is not a file name inside {directory}";
        }

        var path = Path.Combine(directory, endpoint);
        return File.Exists(path) || Directory.Exists(path) ? null : $"{path} does not exist";
    }

    private static string? DeviceIdProblem(IReadOnlyList<Device> devices)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in devices)
        {
            if (string.IsNullOrEmpty(d.ID))
            {
                return "a device has an empty ID";
            }

            if (d.ID.Length > 63)
            {
                return $"device ID \"{d.ID}\" has {d.ID.Length} characters (at most 63)";
            }

            if (d.ID.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                return $"device ID \"{d.ID}\" holds a space or control character";
            }

            if (!seen.Add(d.ID))
            {
                return $"device ID \"{d.ID}\" appears twice in one list";
            }
        }

        return null;
    }

    private static async Task<string?> RpcProblemAsync(Func<Task> call, string what)
    {
        try
        {
            await call();
            return null;
        }
        catch (RpcException e)
        {
            return $"{what} failed: {e.StatusCode}: {e.Status.Detail}";
        }
    }
}
