namespace DevicePlugin.Allocation;

/// <summary>
/// Spreads a request's picks over a chosen set of physical devices so that sharing is least: every device in the set
/// gets its must-include picks (at least one), and each further pick goes to the device with the most replicas still
/// available. The k-th pick from a device (0-based) costs (replicas held elsewhere + k); the greedy rule gives the
/// least total cost, which is found here by a threshold search instead of pick by pick.
/// </summary>
internal static class ReplicaSpread
{
    /// <summary>
    /// Least sharing cost of taking <see cref="AllocationProblem.Size"/> picks from exactly the devices in
    /// <paramref name="support"/>, or null when those devices cannot hold the request that way.
    /// </summary>
    public static long? Cost(AllocationProblem problem, ReadOnlySpan<int> support)
    {
        var (baseCost, extra, feasible) = Forced(problem, support);
        if (!feasible)
        {
            return null;
        }

        if (extra == 0)
        {
            return baseCost;
        }

        var threshold = Threshold(problem, support, extra);
        var below = 0L;
        var belowCost = 0L;
        foreach (var d in support)
        {
            var from = problem.BasePicks(d);
            var to = Math.Min(problem.Available[d], threshold - problem.Used(d));
            if (to > from)
            {
                below += to - from;
                belowCost += SumOfCosts(problem.Used(d), from, to);
            }
        }

        return baseCost + belowCost + ((extra - below) * threshold);
    }

    /// <summary>
    /// How many picks each device of <paramref name="support"/> gets under the rule (same order as the support).
    /// Picks tied at the threshold go to the earlier devices of the support.
    /// </summary>
    public static int[] Distribute(AllocationProblem problem, ReadOnlySpan<int> support)
    {
        var picks = new int[support.Length];
        var (_, extra, feasible) = Forced(problem, support);
        if (!feasible)
        {
            throw new InvalidOperationException("the support cannot hold the request");
        }

        for (var i = 0; i < support.Length; i++)
        {
            picks[i] = problem.BasePicks(support[i]);
        }

        if (extra == 0)
        {
            return picks;
        }

        var threshold = Threshold(problem, support, extra);
        var remaining = extra;
        for (var i = 0; i < support.Length; i++)
        {
            var d = support[i];
            var to = Math.Min(problem.Available[d], threshold - problem.Used(d));
            if (to > picks[i])
            {
                remaining -= to - picks[i];
                picks[i] = to;
            }
        }

        for (var i = 0; i < support.Length && remaining > 0; i++)
        {
            var d = support[i];
            if (picks[i] < problem.Available[d] && problem.Used(d) + picks[i] == threshold)
            {
                picks[i]++;
                remaining--;
            }
        }

        return picks;
    }

    private static (long Cost, long Extra, bool Feasible) Forced(AllocationProblem problem, ReadOnlySpan<int> support)
    {
        long basePicks = 0;
        long capacity = 0;
        long cost = 0;
        foreach (var d in support)
        {
            var b = problem.BasePicks(d);
            basePicks += b;
            capacity += problem.Available[d];
            cost += SumOfCosts(problem.Used(d), 0, b);
        }

        var extra = problem.Size - basePicks;
        return (cost, extra, extra >= 0 && capacity >= problem.Size);
    }

    /// <summary>Smallest cost value such that the extra picks costing at most it number at least <paramref name="extra"/>.</summary>
    private static int Threshold(AllocationProblem problem, ReadOnlySpan<int> support, long extra)
    {
        var lo = 0;
        var hi = problem.Replicas - 1;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            long count = 0;
            foreach (var d in support)
            {
                var to = Math.Min(problem.Available[d], mid - problem.Used(d) + 1);
                var from = problem.BasePicks(d);
                if (to > from)
                {
                    count += to - from;
                }
            }

            if (count >= extra)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>Sum of (used + k) for k in [from, to).</summary>
    private static long SumOfCosts(int used, int from, int to)
    {
        long n = to - from;
        return n <= 0 ? 0 : (n * used) + ((from + (long)to - 1) * n / 2);
    }
}
