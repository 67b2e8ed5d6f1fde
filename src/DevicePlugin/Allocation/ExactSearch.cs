namespace DevicePlugin.Allocation;

/// <summary>
/// Provably best allocation: enumerates every set of physical devices that can hold the request (the must-include
/// devices plus any subset of the others), pruning a branch as soon as it uses more NUMA nodes than the best set found
/// (adding devices never lowers that count). Each set is scored with its least-sharing spread of replicas
/// (<see cref="ReplicaSpread"/>), so the answer is optimal over all multisets of replicas.
/// </summary>
internal static class ExactSearch
{
    /// <summary>
    /// Most sets the search may have to visit: 2^17, so any request over up to 17 free physical devices is exact,
    /// and larger inventories are exact when the request leaves few combinations.
    /// </summary>
    public const long SetLimit = 1L << 17;

    /// <summary>True when the number of sets to visit is within <see cref="SetLimit"/>.</summary>
    public static bool Fits(AllocationProblem problem)
    {
        var free = 0;
        var must = 0;
        for (var d = 0; d < problem.Count; d++)
        {
            if (problem.Required[d] > 0)
            {
                must++;
            }
            else
            {
                free++;
            }
        }

        if (problem.Replicas == 1)
        {
            return Combinations(free, problem.Size - must) <= SetLimit;
        }

        var most = Math.Min(free, problem.Size - problem.RequiredTotal);
        long total = 0;
        for (var k = 0; k <= most && total <= SetLimit; k++)
        {
            total += Combinations(free, k);
        }

        return total <= SetLimit;
    }

    /// <summary>The best support (candidate indices); empty when no set can hold the request.</summary>
    public static int[] Solve(AllocationProblem problem)
    {
        var set = new SupportSet(problem);
        var free = new List<int>(problem.Count);
        for (var d = 0; d < problem.Count; d++)
        {
            if (problem.Required[d] > 0)
            {
                set.Add(d);
            }
            else
            {
                free.Add(d);
            }
        }

        var search = new Search(problem, set, free.ToArray());
        search.Visit(0);
        return search.Best;
    }

    private static long Combinations(int n, int k)
    {
        if (k < 0 || k > n)
        {
            return 0;
        }

        k = Math.Min(k, n - k);
        long result = 1;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
            if (result > SetLimit)
            {
                return SetLimit + 1;
            }
        }

        return result;
    }

    private sealed class Search(AllocationProblem problem, SupportSet set, int[] free)
    {
        private readonly bool _single = problem.Replicas == 1;
        private AllocationScore _best = AllocationScore.Worst;

        public int[] Best { get; private set; } = [];

        public void Visit(int start)
        {
            if (set.NumaNodes > _best.NumaNodes)
            {
                return;
            }

            if (_single)
            {
                if (set.Count == problem.Size)
                {
                    Consider();
                    return;
                }
            }
            else
            {
                if (set.Feasible)
                {
                    Consider();
                }

                if (set.BasePicks >= problem.Size)
                {
                    return;
                }
            }

            for (var i = start; i < free.Length; i++)
            {
                if (_single && set.Count + (free.Length - i) < problem.Size)
                {
                    return;
                }

                set.Add(free[i]);
                Visit(i + 1);
                set.RemoveLast();
            }
        }

        private void Consider()
        {
            var partial = new AllocationScore(set.NumaNodes, set.Interconnect, set.Count, 0);
            var comparison = AllocationScore.Compare(
                partial, _best with { SharingCost = 0 });
            if (comparison < 0)
            {
                return;
            }

            if (set.Score() is not { } score || (comparison == 0 && !score.IsBetterThan(_best)))
            {
                return;
            }

            _best = score;
            Best = set.Members.ToArray();
        }
    }
}
