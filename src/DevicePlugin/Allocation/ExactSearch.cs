namespace DevicePlugin.Allocation;

/// <summary>
/// Provably best allocation: enumerates every set of physical devices that can hold the request (the must-include
/// devices plus any subset of the others). A branch is pruned as soon as it uses more NUMA nodes than the best set
/// found (adding devices never lowers that count) or cannot beat it even with the most links it could still gain;
/// the heuristic's answer is the first best set, so the bounds prune from the start. With replicas, a set that a
/// further device could join without a new NUMA node is not scored (the larger set is strictly better). Each set is
/// scored with its least-sharing spread of replicas (<see cref="ReplicaSpread"/>), so the answer is optimal over all
/// multisets of replicas.
/// </summary>
internal static class ExactSearch
{
    /// <summary>
    /// Most sets the search may have to visit: 2^16, so any request over up to 16 physical devices besides the
    /// must-include ones is exact, and larger inventories are exact when the request leaves few combinations.
    /// </summary>
    public const long SetLimit = 1L << 16;

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
        search.Incumbent(HeuristicSearch.Solve(problem));
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

    private sealed class Search
    {
        private readonly AllocationProblem _problem;
        private readonly SupportSet _set;
        private readonly int[] _free;
        private readonly bool _single;

        /// <summary>gain[i] = sum of scores between free[i] and the members.</summary>
        private readonly long[] _gain;

        /// <summary>strongestFrom[i] = strongest pair among free[i..].</summary>
        private readonly long[] _strongestFrom;
        private readonly long[] _scratch;
        private AllocationScore _best = AllocationScore.Worst;

        public Search(AllocationProblem problem, SupportSet set, int[] free)
        {
            _problem = problem;
            _set = set;
            _free = free;
            _single = problem.Replicas == 1;
            _gain = new long[free.Length];
            _scratch = new long[free.Length];
            for (var i = 0; i < free.Length; i++)
            {
                _gain[i] = set.GainOf(free[i]);
            }

            _strongestFrom = new long[free.Length + 1];
            for (var i = free.Length - 1; i >= 0; i--)
            {
                var strongest = _strongestFrom[i + 1];
                for (var j = i + 1; j < free.Length; j++)
                {
                    strongest = Math.Max(strongest, problem.Score(free[i], free[j]));
                }

                _strongestFrom[i] = strongest;
            }
        }

        public int[] Best { get; private set; } = [];

        /// <summary>Starts from a known set (the heuristic's answer), so that the bounds prune from the start.</summary>
        public void Incumbent(int[] support)
        {
            var trial = new SupportSet(_problem);
            foreach (var d in support)
            {
                trial.Add(d);
            }

            if (trial.Score() is { } score)
            {
                _best = score;
                Best = support;
            }
        }

        public void Visit(int start)
        {
            if (_set.NumaNodes > _best.NumaNodes || !CanBeatBest(start))
            {
                return;
            }

            if (_single)
            {
                if (_set.Count == _problem.Size)
                {
                    Consider();
                    return;
                }
            }
            else
            {
                if (_set.Feasible && !Extendable())
                {
                    Consider();
                }

                if (_set.BasePicks >= _problem.Size)
                {
                    return;
                }
            }

            for (var i = start; i < _free.Length; i++)
            {
                if (_single && _set.Count + (_free.Length - i) < _problem.Size)
                {
                    return;
                }

                Add(i);
                Visit(i + 1);
                Remove(i);
            }
        }

        private void Add(int i)
        {
            var d = _free[i];
            _set.Add(d);
            for (var j = 0; j < _free.Length; j++)
            {
                _gain[j] += _problem.Score(_free[j], d);
            }
        }

        private void Remove(int i)
        {
            var d = _free[i];
            _set.RemoveLast();
            for (var j = 0; j < _free.Length; j++)
            {
                _gain[j] -= _problem.Score(_free[j], d);
            }
        }

        /// <summary>
        /// Optimistic bound for this set and every set grown from it with devices from <paramref name="start"/> on:
        /// NUMA nodes never drop; at most k devices join (as many as are left and the request has room for); they
        /// add at most the k largest links to the members plus the strongest pair among them for each pair they form.
        /// </summary>
        private bool CanBeatBest(int start)
        {
            var left = _free.Length - start;
            var joining = (int)Math.Max(0, Math.Min(left, _problem.Size - _set.BasePicks));
            var interconnect = _set.Interconnect;
            if (joining > 0)
            {
                var gains = _scratch.AsSpan(0, left);
                _gain.AsSpan(start, left).CopyTo(gains);
                gains.Sort();
                foreach (var g in gains[^joining..])
                {
                    interconnect += g;
                }

                interconnect += _strongestFrom[start] * ((long)joining * (joining - 1) / 2);
            }

            var bound = new AllocationScore(_set.NumaNodes, interconnect, _set.Count + joining, 0);
            return bound.IsBetterThan(_best);
        }

        /// <summary>
        /// True when some free device outside the set could join it without a new NUMA node and without exceeding the
        /// request: that larger set scores strictly better (links never drop, distinct devices rise), so this one
        /// need not be scored.
        /// </summary>
        private bool Extendable()
        {
            if (_set.BasePicks >= _problem.Size)
            {
                return false;
            }

            foreach (var d in _free)
            {
                if (!_set.Contains(d)
                    && (_problem.Node[d] < 0 || _set.OnNode(_problem.Node[d]) > 0 || (_set.KnownNodes == 0 && _set.Count > 0)))
                {
                    return true;
                }
            }

            return false;
        }

        private void Consider()
        {
            var partial = new AllocationScore(_set.NumaNodes, _set.Interconnect, _set.Count, 0);
            var comparison = AllocationScore.Compare(partial, _best with { SharingCost = 0 });
            if (comparison < 0)
            {
                return;
            }

            if (_set.Score() is not { } score || (comparison == 0 && !score.IsBetterThan(_best)))
            {
                return;
            }

            _best = score;
            Best = _set.Members.ToArray();
        }
    }
}
