namespace DevicePlugin.ProcessBench;

/// <summary>What one run measures and how often. <see cref="Quick"/> is a smoke run: every measure once, small.</summary>
public sealed record BenchOptions
{
    public bool Quick { get; init; }

    /// <summary>Independent processes per server for the memory and Allocate figures.</summary>
    public int Repeats { get; init; } = 3;

    /// <summary>Start-up runs per server and resource count.</summary>
    public int StartRuns { get; init; } = 15;

    public int BurstClients { get; init; } = 16;

    public int BurstCallsPerClient { get; init; } = 10_000;

    public int SingleClientCalls { get; init; } = 5_000;

    public TimeSpan IdleSettle { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan AfterBurst { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Health changes per kind (config edit, XID, sysfs) and kubelet restarts.</summary>
    public int EventSamples { get; init; } = 16;

    public int Devices { get; init; } = 8;

    public string? DaemonPath { get; init; }

    public string? MinimalPath { get; init; }

    /// <summary>A second device-plugin executable measured in place of the minimal server (an A/B of two builds).</summary>
    public string? BaselinePath { get; init; }

    /// <summary>Environment for the baseline daemon (with --baseline, or the same executable as --daemon).</summary>
    public IReadOnlyDictionary<string, string> BaselineEnvironment { get; init; } = new Dictionary<string, string>();

    public bool Publish { get; init; } = true;

    /// <summary>Environment for the daemon (DOTNET_GC… to try a setting before baking it in).</summary>
    public IReadOnlyDictionary<string, string> DaemonEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Which parts to run: start, memory, events (all by default).</summary>
    public IReadOnlySet<string> Parts { get; init; } = new HashSet<string> { "start", "memory", "events" };

    public static BenchOptions QuickRun => new()
    {
        Quick = true,
        Repeats = 1,
        StartRuns = 3,
        BurstClients = 4,
        BurstCallsPerClient = 250,
        SingleClientCalls = 200,
        IdleSettle = TimeSpan.FromMilliseconds(500),
        AfterBurst = TimeSpan.FromSeconds(2),
        EventSamples = 2,
    };

    public static string Usage => """
        usage: dotnet run -c Release --project tests/DevicePlugin.ProcessBench [-- OPTIONS]
          --quick              every measure once with a small burst (a smoke run, about a minute after publishing)
          --repeats N          processes per server for memory and Allocate figures (default 3)
          --start-runs N       start-up runs per server and resource count (default 15)
          --samples N          health changes per kind and kubelet restarts (default 16)
          --daemon PATH        use this published device-plugin instead of publishing one
          --minimal PATH       use this published minimal-plugin instead of publishing one
          --no-publish         reuse artifacts/process-bench from an earlier run
          --burst-calls N      Allocate calls per burst client (default 10,000)
          --after SECONDS      wait after the burst before the last RSS reading (default 30)
          --only PARTS         comma-separated: start, memory, events
          --daemon-env K=V     an environment variable for the daemon (to try DOTNET_GC… settings); repeatable
          --baseline PATH      measure this device-plugin executable in place of the minimal server (A/B of two
                               builds in one run, alternating); the table's last column is then that build
          --baseline-env K=V   an environment variable for the baseline device-plugin; repeatable
        """;

    public static BenchOptions? Parse(string[] args, out string? error)
    {
        error = null;
        var options = args.Contains("--quick") ? QuickRun : new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Count() => int.TryParse(Next(), out var n) && n > 0 ? n : throw new ArgumentException($"{args[i - 1]} needs a positive number");
            try
            {
                options = args[i] switch
                {
                    "--quick" => options,
                    "--repeats" => options with { Repeats = Count() },
                    "--start-runs" => options with { StartRuns = Count() },
                    "--samples" => options with { EventSamples = Count() },
                    "--daemon" => options with { DaemonPath = Path.GetFullPath(Next()) },
                    "--minimal" => options with { MinimalPath = Path.GetFullPath(Next()) },
                    "--no-publish" => options with { Publish = false },
                    "--burst-calls" => options with { BurstCallsPerClient = Count() },
                    "--after" => options with { AfterBurst = TimeSpan.FromSeconds(Count()) },
                    "--only" => options with { Parts = Next().Split(',').ToHashSet() },
                    "--baseline" => options with { BaselinePath = Path.GetFullPath(Next()) },
                    "--baseline-env" => options with { BaselineEnvironment = With(options.BaselineEnvironment, Next()) },
                    "--daemon-env" => options with { DaemonEnvironment = With(options.DaemonEnvironment, Next()) },
                    _ => throw new ArgumentException($"unknown argument {args[i]}"),
                };
            }
            catch (ArgumentException e)
            {
                error = e.Message;
                return null;
            }
        }

        return options;
    }

    private static Dictionary<string, string> With(IReadOnlyDictionary<string, string> environment, string assignment) =>
        new(environment) { [assignment.Split('=')[0]] = assignment[(assignment.IndexOf('=') + 1)..] };
}
