namespace DevicePlugin.Allocation;

/// <summary>
/// Local search over supports of a fixed size: repeatedly applies the best single swap (one non-must member out, one
/// allowed non-member in) that improves the score, until none does or the work budget is spent.
/// </summary>
internal sealed class SwapImprover(
    AllocationProblem problem, List<int> must, List<int> allowed, HeuristicSearch.Budget budget)
{
    public int[] Improve(int[] start)
    {
        var set = new SupportSet(problem);
        foreach (var d in start)
        {
            set.Add(d);
        }

        if (set.Score() is not { } current)
        {
            return start;
        }

        var isMust = new bool[problem.Count];
        foreach (var d in must)
        {
            isMust[d] = true;
        }

        // gain[z] = sum of scores between z and the members.
        var gain = new long[problem.Count];
        foreach (var z in allowed)
        {
            gain[z] = set.GainOf(z);
        }

        budget.Spend((long)allowed.Count * set.Count);
        var replicas = problem.Replicas > 1;
        var scratch = new int[set.Count];
        while (!budget.Spent)
        {
            var bestOut = -1;
            var bestIn = -1;
            var bestScore = current;
            var members = set.Members.ToArray();
            foreach (var x in members)
            {
                if (isMust[x])
                {
                    continue;
                }

                foreach (var y in allowed)
                {
                    if (set.Contains(y))
                    {
                        continue;
                    }

                    var numa = NumaAfterSwap(set, x, y);
                    var interconnect = set.Interconnect - gain[x] + gain[y] - problem.Score(x, y);
                    var partial = new AllocationScore(numa, interconnect, set.Count, 0);
                    var comparison = AllocationScore.Compare(partial, bestScore with { SharingCost = 0 });
                    // On a tie only sharing can improve, and only when y has more replicas available than x:
                    // y's per-pick costs are then x's shifted down; otherwise they are the same or higher.
                    if (comparison < 0
                        || (comparison == 0 && (!replicas || problem.Available[y] <= problem.Available[x])))
                    {
                        continue;
                    }

                    var sharing = 0L;
                    if (replicas)
                    {
                        members.AsSpan().CopyTo(scratch);
                        scratch[Array.IndexOf(members, x)] = y;
                        if (ReplicaSpread.Cost(problem, scratch) is not { } cost)
                        {
                            continue;
                        }

                        sharing = cost;
                        budget.Spend(scratch.Length);
                    }

                    var candidate = partial with { SharingCost = sharing };
                    if (candidate.IsBetterThan(bestScore))
                    {
                        bestScore = candidate;
                        bestOut = x;
                        bestIn = y;
                    }
                }

                budget.Spend(allowed.Count);
            }

            if (bestOut < 0)
            {
                break;
            }

            set.Remove(bestOut);
            set.Add(bestIn);
            foreach (var z in allowed)
            {
                gain[z] += problem.Score(z, bestIn) - problem.Score(z, bestOut);
            }

            budget.Spend(allowed.Count);
            current = bestScore;
        }

        return set.Members.ToArray();
    }

    private int NumaAfterSwap(SupportSet set, int x, int y)
    {
        var known = set.KnownNodes;
        var nx = problem.Node[x];
        var ny = problem.Node[y];
        if (nx != ny)
        {
            if (nx >= 0 && set.OnNode(nx) == 1)
            {
                known--;
            }

            if (ny >= 0 && set.OnNode(ny) == 0)
            {
                known++;
            }
        }

        return Math.Max(1, known);
    }
}
