namespace DevicePlugin.Allocation;

/// <summary>
/// A set of candidate physical devices (the "support" of an allocation) with its objective values kept up to date
/// as devices are added and removed: NUMA nodes in use, pairwise interconnect, forced picks and capacity.
/// </summary>
internal sealed class SupportSet
{
    private readonly AllocationProblem _problem;
    private readonly int[] _perNode;
    private readonly int[] _members;
    private readonly bool[] _contains;

    public SupportSet(AllocationProblem problem)
    {
        _problem = problem;
        _perNode = new int[problem.NodeCount];
        _members = new int[problem.Count];
        _contains = new bool[problem.Count];
    }

    public int Count { get; private set; }

    public int KnownNodes { get; private set; }

    public long Interconnect { get; private set; }

    /// <summary>Sum of <see cref="AllocationProblem.BasePicks"/> over the members.</summary>
    public long BasePicks { get; private set; }

    /// <summary>Sum of available IDs over the members.</summary>
    public long Capacity { get; private set; }

    public ReadOnlySpan<int> Members => _members.AsSpan(0, Count);

    public bool Contains(int d) => _contains[d];

    /// <summary>NUMA objective: known nodes in use, at least 1 for a non-empty set (unknown NUMA fits any node).</summary>
    public int NumaNodes => Count == 0 ? 0 : Math.Max(1, KnownNodes);

    /// <summary>True when the members can hold the request with every member used.</summary>
    public bool Feasible => BasePicks <= _problem.Size && Capacity >= _problem.Size;

    /// <summary>Sum of <see cref="AllocationProblem.Score"/> between <paramref name="d"/> and every member.</summary>
    public long GainOf(int d)
    {
        long gain = 0;
        foreach (var m in Members)
        {
            gain += _problem.Score(d, m);
        }

        return gain;
    }

    public void Add(int d)
    {
        Interconnect += GainOf(d);
        _members[Count++] = d;
        _contains[d] = true;
        BasePicks += _problem.BasePicks(d);
        Capacity += _problem.Available[d];
        var node = _problem.Node[d];
        if (node >= 0 && _perNode[node]++ == 0)
        {
            KnownNodes++;
        }
    }

    /// <summary>Removes the most recently added member (depth-first search).</summary>
    public void RemoveLast() => RemoveAt(Count - 1);

    public void Remove(int d) => RemoveAt(_members.AsSpan(0, Count).IndexOf(d));

    private void RemoveAt(int position)
    {
        var d = _members[position];
        _members[position] = _members[Count - 1];
        Count--;
        _contains[d] = false;
        Interconnect -= GainOf(d);
        BasePicks -= _problem.BasePicks(d);
        Capacity -= _problem.Available[d];
        var node = _problem.Node[d];
        if (node >= 0 && --_perNode[node] == 0)
        {
            KnownNodes--;
        }
    }

    /// <summary>Members on NUMA node <paramref name="node"/>.</summary>
    public int OnNode(int node) => _perNode[node];

    /// <summary>The full score; null when the set cannot hold the request.</summary>
    public AllocationScore? Score()
    {
        if (ReplicaSpread.Cost(_problem, Members) is not { } sharing)
        {
            return null;
        }

        return new AllocationScore(NumaNodes, Interconnect, Count, sharing);
    }
}
