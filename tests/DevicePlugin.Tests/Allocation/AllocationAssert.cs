using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.Allocation;

/// <summary>The request invariants every GetPreferredAllocation answer must satisfy.</summary>
public static class AllocationAssert
{
    public static void Valid(
        ResourceSnapshot snapshot, IReadOnlyList<string> available, IReadOnlyList<string> mustInclude, int size,
        IReadOnlyList<string> answer)
    {
        var availableKnown = available.Where(id => snapshot.TryGet(id, out _)).ToHashSet(StringComparer.Ordinal);
        var mustKnown = mustInclude.Where(availableKnown.Contains).ToHashSet(StringComparer.Ordinal);
        var expectedCount = size <= 0 ? 0 : Math.Min(size, availableKnown.Count);

        Assert.Equal(expectedCount, answer.Count);
        Assert.Equal(answer.Count, answer.Distinct().Count());
        Assert.All(answer, id => Assert.Contains(id, availableKnown));
        if (mustKnown.Count <= size)
        {
            Assert.All(mustKnown, id => Assert.Contains(id, answer));
        }
        else
        {
            Assert.All(answer, id => Assert.Contains(id, mustKnown));
        }
    }
}
