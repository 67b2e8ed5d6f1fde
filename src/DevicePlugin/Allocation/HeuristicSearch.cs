using System.Numerics;

namespace DevicePlugin.Allocation;

/// <summary>
/// Allocation for inventories too large for <see cref="ExactSearch"/>, within a fixed amount of work (so a fixed
/// time, and the same answer every time for the same request):
/// 1. the fewest NUMA nodes is found exactly, from per-node capacities: the candidate node sets are those with the
///    fewest nodes that can hold the request together with the must-include devices and the unknown-NUMA devices;
/// 2. in each node set, a greedy build adds the device with the strongest links to the set so far, started from the
///    must-include devices, or from each allowed device in turn while the work budget lasts;
/// 3. the best greedy set of each node set is improved by swapping one device in for one out, best swap first,
///    until no swap improves the score or the budget is spent.
/// With replicas the set spans as many physical devices as the node set allows (that never lowers the interconnect
/// and always raises the distinct-device count), and picks are spread by <see cref="ReplicaSpread"/>.
/// </summary>
internal static class HeuristicSearch
{
    /// <summary>Units of work (one pair score or one candidate move looked at) one request may spend.</summary>
    public const long WorkBudget = 400_000;

    /// <summary>Most NUMA node sets tried (all tie on the fewest-nodes objective).</summary>
    private const int MaxNodeSets = 16;

    /// <summary>Up to this many NUMA nodes every node set is looked at (2^10 sets); beyond, a greedy choice.</summary>
    private const int MaxEnumeratedNodes = 10;

    public static int[] Solve(AllocationProblem problem, long workBudget = WorkBudget)
    {
        var budget = new Budget(workBudget);
        int[] best = [];
        var bestScore = AllocationScore.Worst;
        foreach (var allowedNodes in NodeSets(problem))
        {
            var support = SolveWithin(problem, allowedNodes, budget);
            if (ScoreOf(problem, support) is { } score && score.IsBetterThan(bestScore))
            {
                bestScore = score;
                best = support;
            }
        }

        return best;
    }

    /// <summary>Node sets (as flags per compact node) with the fewest nodes that can hold the request.</summary>
    internal static List<bool[]> NodeSets(AllocationProblem problem)
    {
        var nodes = problem.NodeCount;
        var capacity = new long[nodes];
        var mustNode = new bool[nodes];
        long unknownCapacity = 0;
        for (var d = 0; d < problem.Count; d++)
        {
            var node = problem.Node[d];
            if (node < 0)
            {
                unknownCapacity += problem.Available[d];
            }
            else
            {
                capacity[node] += problem.Available[d];
                mustNode[node] |= problem.Required[d] > 0;
            }
        }

        var result = new List<bool[]>();
        if (nodes == 0)
        {
            result.Add([]);
            return result;
        }

        if (nodes <= MaxEnumeratedNodes)
        {
            var mustMask = 0;
            for (var n = 0; n < nodes; n++)
            {
                mustMask |= mustNode[n] ? 1 << n : 0;
            }

            // Fewest nodes first; a node set with no node counts as one node, like a single node, but allows less.
            var fewest = int.MaxValue;
            for (var mask = 1; mask < 1 << nodes; mask++)
            {
                if ((mask & mustMask) != mustMask)
                {
                    continue;
                }

                var used = BitOperations.PopCount((uint)mask);
                if (used > fewest)
                {
                    continue;
                }

                long total = unknownCapacity;
                for (var n = 0; n < nodes; n++)
                {
                    total += (mask & (1 << n)) != 0 ? capacity[n] : 0;
                }

                if (total < problem.Size)
                {
                    continue;
                }

                if (used < fewest)
                {
                    fewest = used;
                    result.Clear();
                }

                if (result.Count < MaxNodeSets)
                {
                    var flags = new bool[nodes];
                    for (var n = 0; n < nodes; n++)
                    {
                        flags[n] = (mask & (1 << n)) != 0;
                    }

                    result.Add(flags);
                }
            }

            return result;
        }

        // Many nodes: must-include nodes, then the largest nodes until the request fits.
        var chosen = (bool[])mustNode.Clone();
        long sum = unknownCapacity;
        for (var n = 0; n < nodes; n++)
        {
            sum += chosen[n] ? capacity[n] : 0;
        }

        foreach (var n in Enumerable.Range(0, nodes).OrderByDescending(n => capacity[n]))
        {
            if (sum >= problem.Size)
            {
                break;
            }

            if (!chosen[n])
            {
                chosen[n] = true;
                sum += capacity[n];
            }
        }

        result.Add(chosen);
        return result;
    }

    private static int[] SolveWithin(AllocationProblem problem, bool[] allowedNodes, Budget budget)
    {
        var allowed = new List<int>(problem.Count);
        var must = new List<int>();
        for (var d = 0; d < problem.Count; d++)
        {
            if (problem.Required[d] > 0)
            {
                must.Add(d);
            }
            else if (problem.Node[d] < 0 || allowedNodes[problem.Node[d]])
            {
                allowed.Add(d);
            }
        }

        var target = problem.Replicas == 1
            ? problem.Size - must.Count
            : (int)Math.Min(allowed.Count, problem.Size - problem.RequiredTotal);
        if (target >= allowed.Count)
        {
            return [.. must, .. allowed];
        }

        var builder = new GreedyBuilder(problem, must, allowed, target, budget);
        var start = builder.Build(seed: -1);
        var startScore = ScoreOf(problem, start, budget);
        if (must.Count == 0)
        {
            foreach (var seed in allowed)
            {
                if (budget.Spent)
                {
                    break;
                }

                var candidate = builder.Build(seed);
                if (ScoreOf(problem, candidate, budget) is { } score
                    && (startScore is not { } current || score.IsBetterThan(current)))
                {
                    start = candidate;
                    startScore = score;
                }
            }
        }

        return new SwapImprover(problem, must, allowed, budget).Improve(start);
    }

    private static AllocationScore? ScoreOf(AllocationProblem problem, int[] support, Budget budget)
    {
        budget.Spend(((long)support.Length * support.Length / 2) + support.Length);
        return ScoreOf(problem, support);
    }

    internal static AllocationScore? ScoreOf(AllocationProblem problem, int[] support)
    {
        var set = new SupportSet(problem);
        foreach (var d in support)
        {
            set.Add(d);
        }

        return set.Score();
    }

    /// <summary>Work left for one request.</summary>
    internal sealed class Budget(long units)
    {
        private long _left = units;

        public bool Spent => _left <= 0;

        public void Spend(long units) => _left -= units;
    }
}
