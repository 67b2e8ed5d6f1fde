using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Kubelet;

/// <summary>The instance lock itself: flock(2) conflicts between two open files in one process as between processes.</summary>
public sealed class KubeletDirectoryLockTests
{
    [Fact]
    public void A_second_holder_is_refused_with_the_first_ones_pid_and_takes_it_once_released()
    {
        using var dir = new TempDirectory();
        using var first = new KubeletDirectoryLock(dir.Path);
        using var second = new KubeletDirectoryLock(dir.Path);

        Assert.True(first.Ensure());
        Assert.True(first.Ensure()); // still ours

        var refused = Assert.Throws<KubeletDirectoryLockedException>(() => second.Ensure());
        Assert.Contains($"PID {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
        Assert.True(second.Lost.IsCompleted);
        Assert.False(second.IsHeld);

        first.Dispose();
        Assert.True(new KubeletDirectoryLock(dir.Path).Ensure());
    }

    [Fact]
    public void A_missing_directory_is_locked_when_it_appears_and_a_recreated_one_is_locked_again()
    {
        using var dir = new TempDirectory();
        var kubeletDir = dir.Combine("k");
        using var first = new KubeletDirectoryLock(kubeletDir);
        using var second = new KubeletDirectoryLock(kubeletDir);

        Assert.False(first.Ensure());
        Directory.CreateDirectory(kubeletDir);
        Assert.True(first.Ensure());

        // The directory is removed and made anew: the old lock guards nothing; the first to look takes the new one.
        Directory.Delete(kubeletDir, recursive: true);
        Directory.CreateDirectory(kubeletDir);
        Assert.True(second.Ensure());
        Assert.Throws<KubeletDirectoryLockedException>(() => first.Ensure());
        Assert.False(first.IsHeld);
        Assert.True(first.Lost.IsCompleted);
    }
}
