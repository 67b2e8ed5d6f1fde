namespace DevicePlugin.Allocation;

/// <summary>
/// Builds a support greedily: the must-include devices (and an optional seed), then, one at a time, the allowed device
/// with the strongest links to the set so far; ties go to a device on a NUMA node already in use, then to the device
/// with the most replicas available, then to the lower index.
/// </summary>
internal sealed class GreedyBuilder(
    AllocationProblem problem, List<int> must, List<int> allowed, int target, HeuristicSearch.Budget budget)
{
    private readonly long[] _gain = new long[problem.Count];
    private readonly bool[] _inSet = new bool[problem.Count];
    private readonly int[] _perNode = new int[problem.NodeCount];

    /// <summary>Must-include devices plus <c>target</c> allowed ones; <paramref name="seed"/> first when not -1.</summary>
    public int[] Build(int seed)
    {
        Array.Clear(_gain);
        Array.Clear(_inSet);
        Array.Clear(_perNode);
        var support = new List<int>(must.Count + target);
        foreach (var d in must)
        {
            Take(d, support);
        }

        if (seed >= 0)
        {
            Take(seed, support);
        }

        while (support.Count < must.Count + target)
        {
            var next = -1;
            foreach (var d in allowed)
            {
                if (!_inSet[d] && (next < 0 || Prefer(d, next)))
                {
                    next = d;
                }
            }

            budget.Spend(allowed.Count);
            Take(next, support);
        }

        return support.ToArray();
    }

    private bool Prefer(int a, int b)
    {
        if (_gain[a] != _gain[b])
        {
            return _gain[a] > _gain[b];
        }

        var aFits = problem.Node[a] < 0 || _perNode[problem.Node[a]] > 0;
        var bFits = problem.Node[b] < 0 || _perNode[problem.Node[b]] > 0;
        if (aFits != bFits)
        {
            return aFits;
        }

        return problem.Available[a] != problem.Available[b] ? problem.Available[a] > problem.Available[b] : a < b;
    }

    private void Take(int d, List<int> support)
    {
        support.Add(d);
        _inSet[d] = true;
        if (problem.Node[d] >= 0)
        {
            _perNode[problem.Node[d]]++;
        }

        foreach (var z in allowed)
        {
            _gain[z] += problem.Score(z, d);
        }

        budget.Spend(allowed.Count);
    }
}
