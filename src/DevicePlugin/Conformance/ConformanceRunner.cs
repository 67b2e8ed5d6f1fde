using System.Diagnostics;
using System.Text.RegularExpressions;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.KubeletEmulator;
using Grpc.Core;

namespace DevicePlugin.Conformance;

/// <summary>
/// Plays the kubelet on a directory (the emulator: Registration with the kubelet's validation and dial-back), waits for
/// the plugin(s) to register, and checks each resource against the kubelet's contract (<see cref="Checks"/>).
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

    private static async Task CheckPreferredAsync(
        PluginConnection plugin, string[] healthy, Action<string, string?> result, Action<string, string> skip, CancellationToken cancellationToken)
    {
        string[] checks = [Checks.PreferredResponses, Checks.PreferredSize, Checks.PreferredSubset, Checks.PreferredMustInclude, Checks.PreferredUnique];
        if (!plugin.Options.GetPreferredAllocationAvailable || healthy.Length == 0)
        {
            var reason = healthy.Length == 0 ? "no healthy device" : "the plugin does not offer GetPreferredAllocation";
            foreach (var check in checks)
            {
                skip(check, reason);
            }

            return;
        }

        var n = healthy.Length;
        List<ContainerPreferredAllocationRequest[]> requests =
        [
            [Container(healthy, [], 1)],
            [Container(healthy, [], n)],
        ];
        if (n >= 2)
        {
            requests.Add([Container(healthy, [healthy[^1]], 2)]);
            requests.Add([Container(healthy, [], 1), Container(healthy, [healthy[0]], Math.Min(3, n))]);
        }

        var problems = checks.ToDictionary(c => c, _ => (string?)null);
        void Note(string check, string problem) => problems[check] ??= problem;
        var answered = 0;
        foreach (var containers in requests)
        {
            var request = new PreferredAllocationRequest();
            request.ContainerRequests.Add(containers);
            var asked = Describe(containers);
            PreferredAllocationResponse response;
            try
            {
                response = await plugin.GetPreferredAllocationAsync(request, cancellationToken);
            }
            catch (RpcException e)
            {
                Note(Checks.PreferredResponses, $"GetPreferredAllocation {asked} failed: {e.StatusCode}: {e.Status.Detail}");
                continue;
            }

            answered++;
            if (response.ContainerResponses.Count != containers.Length)
            {
                Note(Checks.PreferredResponses, $"GetPreferredAllocation {asked}: {response.ContainerResponses.Count} container responses for {containers.Length} container requests");
            }

            for (var i = 0; i < Math.Min(containers.Length, response.ContainerResponses.Count); i++)
            {
                var want = containers[i];
                var got = response.ContainerResponses[i].DeviceIDs;
                var shown = $"GetPreferredAllocation {Describe([want])} answered [{string.Join(", ", got)}]";
                if (got.Count != want.AllocationSize)
                {
                    Note(Checks.PreferredSize, $"{shown}: {got.Count} IDs, not {want.AllocationSize}");
                }

                if (got.FirstOrDefault(id => !want.AvailableDeviceIDs.Contains(id)) is { } outside)
                {
                    Note(Checks.PreferredSubset, $"{shown}: {outside} is not among the available IDs");
                }

                if (want.MustIncludeDeviceIDs.FirstOrDefault(id => !got.Contains(id)) is { } dropped)
                {
                    Note(Checks.PreferredMustInclude, $"{shown}: must_include {dropped} is missing");
                }

                if (got.GroupBy(id => id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
                {
                    Note(Checks.PreferredUnique, $"{shown}: {twice.Key} appears {twice.Count()} times");
                }
            }
        }

        foreach (var check in checks)
        {
            if (answered == 0 && check != Checks.PreferredResponses)
            {
                skip(check, "GetPreferredAllocation never answered");
            }
            else
            {
                result(check, problems[check]);
            }
        }
    }

    private static ContainerPreferredAllocationRequest Container(string[] available, string[] mustInclude, int size)
    {
        var container = new ContainerPreferredAllocationRequest { AllocationSize = size };
        container.AvailableDeviceIDs.Add(available);
        container.MustIncludeDeviceIDs.Add(mustInclude);
        return container;
    }

    private static string Describe(IEnumerable<ContainerPreferredAllocationRequest> containers) =>
        string.Join(" + ", containers.Select(c =>
            $"(size {c.AllocationSize} of {c.AvailableDeviceIDs.Count}" + (c.MustIncludeDeviceIDs.Count > 0 ? $", must_include [{string.Join(", ", c.MustIncludeDeviceIDs)}])" : ")")));

    private async Task CheckAllocateAsync(
        PluginConnection plugin, string[] healthy, Action<string, string?> result, Action<string, string> skip, CancellationToken cancellationToken)
    {
        var responses = new List<(string Asked, ContainerAllocateResponse Response)>();
        async Task<string?> AllocateAsync(string[][] containers)
        {
            var request = new AllocateRequest();
            foreach (var ids in containers)
            {
                var container = new ContainerAllocateRequest();
                container.DevicesIds.Add(ids);
                request.ContainerRequests.Add(container);
            }

            var asked = "Allocate " + string.Join(" + ", containers.Select(ids => $"[{string.Join(", ", ids)}]"));
            try
            {
                var response = await plugin.AllocateAsync(request, cancellationToken);
                for (var i = 0; i < Math.Min(containers.Length, response.ContainerResponses.Count); i++)
                {
                    responses.Add(($"{asked} (container {i})", response.ContainerResponses[i]));
                }

                return response.ContainerResponses.Count == containers.Length ? null
                    : $"{asked}: {response.ContainerResponses.Count} container responses for {containers.Length} container requests";
            }
            catch (RpcException e)
            {
                return $"{asked} failed: {e.StatusCode}: {e.Status.Detail}";
            }
        }

        if (healthy.Length == 0)
        {
            foreach (var check in new[] { Checks.AllocateEach, Checks.AllocateSeveral, Checks.DeviceSpecs, Checks.Mounts, Checks.Envs, Checks.CdiNames })
            {
                skip(check, "no healthy device");
            }
        }
        else
        {
            string? eachProblem = null;
            foreach (var id in healthy.Take(MaxDevicesAllocatedAlone))
            {
                eachProblem ??= await AllocateAsync([[id]]);
            }

            result(Checks.AllocateEach, eachProblem);
            if (healthy.Length < 2)
            {
                skip(Checks.AllocateSeveral, "fewer than two healthy devices");
            }
            else
            {
                result(Checks.AllocateSeveral, await AllocateAsync([healthy.Take(4).ToArray()]) ?? await AllocateAsync([[healthy[0]], [healthy[1]]]));
            }

            result(Checks.DeviceSpecs, responses.SelectMany(r => r.Response.Devices.Select(d => DeviceSpecProblem(r.Asked, d))).FirstOrDefault(p => p is not null));
            result(Checks.Mounts, responses.SelectMany(r => r.Response.Mounts.Select(m => MountProblem(r.Asked, m))).FirstOrDefault(p => p is not null));
            result(Checks.Envs, responses.SelectMany(r => r.Response.Envs.Keys.Where(k => !EnvName().IsMatch(k))
                .Select(k => $"{r.Asked}: environment name \"{k}\" is not valid")).FirstOrDefault());
            result(Checks.CdiNames, responses.SelectMany(r => r.Response.CdiDevices.Select(c => CdiProblem(r.Asked, c.Name))).FirstOrDefault(p => p is not null));
        }

        result(Checks.UnknownId, await ErrorExpectedAsync(plugin, [UnknownDeviceId], $"Allocate [{UnknownDeviceId}]", cancellationToken));
        result(Checks.EmptyRequest, await ErrorExpectedAsync(plugin, [], "Allocate of a container request without IDs", cancellationToken));
    }

    private static async Task<string?> ErrorExpectedAsync(PluginConnection plugin, string[] ids, string what, CancellationToken cancellationToken)
    {
        var request = new AllocateRequest();
        var container = new ContainerAllocateRequest();
        container.DevicesIds.Add(ids);
        request.ContainerRequests.Add(container);
        string? problem = null;
        try
        {
            await plugin.AllocateAsync(request, cancellationToken);
            problem = $"{what} answered OK; it must be an error status";
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal)
        {
            problem = $"{what} answered {e.StatusCode} ({e.Status.Detail}): the plugin failed instead of refusing the request";
        }
        catch (RpcException)
        {
        }

        return problem ?? await RpcProblemAsync(() => plugin.GetDevicePluginOptionsAsync(cancellationToken), $"after {what}, GetDevicePluginOptions");
    }

    private string? DeviceSpecProblem(string asked, DeviceSpec spec)
    {
        if (!Path.IsPathRooted(spec.ContainerPath) || !Path.IsPathRooted(spec.HostPath))
        {
            return $"{asked}: device spec {spec.HostPath} -> {spec.ContainerPath}: both paths must be absolute";
        }

        if (spec.Permissions.Length == 0 || spec.Permissions.Any(c => c is not ('r' or 'w' or 'm')) || spec.Permissions.Distinct().Count() != spec.Permissions.Length)
        {
            return $"{asked}: device spec {spec.HostPath} has permissions \"{spec.Permissions}\" (letters of r, w, m, each once)";
        }

        return HostPathExists(spec.HostPath) ? null : $"{asked}: device spec host path {spec.HostPath} does not exist" + HostRootNote();
    }

    private string? MountProblem(string asked, Mount mount)
    {
        if (!Path.IsPathRooted(mount.ContainerPath) || !Path.IsPathRooted(mount.HostPath))
        {
            return $"{asked}: mount {mount.HostPath} -> {mount.ContainerPath}: both paths must be absolute";
        }

        return HostPathExists(mount.HostPath) ? null : $"{asked}: mount host path {mount.HostPath} does not exist" + HostRootNote();
    }

    private bool HostPathExists(string hostPath)
    {
        var path = Path.Join(options.HostRoot, hostPath);
        return File.Exists(path) || Directory.Exists(path);
    }

    private string HostRootNote() => options.HostRoot is "/" or "" ? "" : $" under {options.HostRoot}";

    private static string? CdiProblem(string asked, string name)
    {
        var equals = name.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            return $"{asked}: CDI device \"{name}\" is not of the form vendor/class=name";
        }

        if (Inventory.CdiNames.KindProblem(name[..equals]) is { } kind)
        {
            return $"{asked}: {kind}";
        }

        return Inventory.CdiNames.IsValidDeviceName(name[(equals + 1)..]) ? null
            : $"{asked}: CDI device \"{name}\": the name part must start and end with a letter or digit and hold only letters, digits, '_', '-', '.', ':'";
    }

    private async Task CheckRestartAsync(
        EmulatedKubelet kubelet, IReadOnlyList<string> names, List<string> registered, List<CheckResult> results, CancellationToken cancellationToken)
    {
        string[] checks = [Checks.Reregistration, Checks.OldStreamEnded, Checks.ListAfterRestart];
        if (!options.Disruptive || registered.Count == 0)
        {
            var reason = options.Disruptive ? "the plugin never registered" : "needs --disruptive";
            foreach (var name in names)
            {
                foreach (var check in checks)
                {
                    Add(results, new CheckResult(name, check, CheckStatus.Skipped, reason, TimeSpan.Zero));
                }
            }

            return;
        }

        var generations = registered.ToDictionary(n => n, n => kubelet.Plugins[n].Generation, StringComparer.Ordinal);
        var restartedAt = Stopwatch.StartNew();
        var old = await kubelet.RestartKeepingStreamsAsync();
        foreach (var name in names)
        {
            if (!registered.Contains(name))
            {
                foreach (var check in checks)
                {
                    Add(results, new CheckResult(name, check, CheckStatus.Skipped, "the plugin never registered", TimeSpan.Zero));
                }

                continue;
            }

            var clock = Stopwatch.StartNew();
            PluginConnection? again = null;
            try
            {
                again = await kubelet.WaitForRegistrationAsync(name, Remaining(restartedAt), generations[name] + 1);
                Add(results, new CheckResult(name, Checks.Reregistration, CheckStatus.Passed, null, restartedAt.Elapsed));
            }
            catch (TimeoutException)
            {
                Add(results, new CheckResult(name, Checks.Reregistration, CheckStatus.Failed,
                    $"no new registration within {Prompt.TotalSeconds:0} s of the kubelet restart (its socket was wiped and kubelet.sock created anew)", restartedAt.Elapsed));
            }

            clock.Restart();
            var previous = old.FirstOrDefault(c => c.ResourceName == name);
            if (previous is not null && !previous.StreamEnded)
            {
                try
                {
                    await previous.WaitForStreamEndAsync(Remaining(restartedAt) + StreamHold);
                }
                catch (OperationCanceledException)
                {
                }
            }

            Add(results, previous is null || previous.StreamEnded
                ? new CheckResult(name, Checks.OldStreamEnded, CheckStatus.Passed, null, clock.Elapsed)
                : new CheckResult(name, Checks.OldStreamEnded, CheckStatus.Failed,
                    $"the stream opened before the restart is still open {restartedAt.Elapsed.TotalSeconds:0.#} s after it", clock.Elapsed));

            clock.Restart();
            if (again is null)
            {
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Skipped, "no new registration", TimeSpan.Zero));
                continue;
            }

            try
            {
                await again.WaitForListAsync(_ => true, Prompt);
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Passed, null, clock.Elapsed));
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                Add(results, new CheckResult(name, Checks.ListAfterRestart, CheckStatus.Failed,
                    $"no list on the new stream within {Prompt.TotalSeconds:0} s: {e.Message}", clock.Elapsed));
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TimeSpan Remaining(Stopwatch since)
    {
        var left = Prompt - since.Elapsed;
        return left > TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100);
    }

    [GeneratedRegex("^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();
}
