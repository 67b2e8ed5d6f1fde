using System.Runtime.InteropServices;
using DevicePlugin.Hosting;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Hosting;

public sealed partial class FilePageReleaseTests
{
    private const int PageSize = 4096;
    private const int Pages = 64;

    [Fact]
    public void Smaps_text_is_read_per_mapping_of_the_file_and_only_clean_read_only_private_mappings_are_releasable()
    {
        const string smaps = """
            55b9d81dc000-55b9d81ff000 r--p 00000000 fe:00 11665657                   /opt/dp/device-plugin
            Size:                140 kB
            Rss:                 140 kB
            Anonymous:             0 kB
            Swap:                  0 kB
            VmFlags: rd mr mw me sd
            55b9d81ff000-55b9d8a18000 r-xp 00023000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                7844 kB
            Anonymous:             0 kB
            Swap:                  0 kB
            55b9d8f51000-55b9d9263000 r--p 00d75000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                3068 kB
            Anonymous:            12 kB
            Swap:                  0 kB
            55b9d9265000-55b9d92aa000 rw-p 01089000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                 276 kB
            Anonymous:             0 kB
            Swap:                  0 kB
            55b9d92ab000-55b9d92ac000 r--p 0108a000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                   4 kB
            Anonymous:             0 kB
            Swap:                  8 kB
            55b9d92ac000-55b9d92ad000 r--s 0108b000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                   4 kB
            Anonymous:             0 kB
            Swap:                  0 kB
            55b9d92ad000-55b9d92ae000 r--p 0108c000 fe:00 11665657                   /opt/dp/device-plugin
            Rss:                   4 kB
            Swap:                  0 kB
            7faf81640000-7faf81666000 r--p 00000000 fe:00 332096                     /usr/lib/x86_64-linux-gnu/libc.so.6
            Rss:                 152 kB
            Anonymous:             0 kB
            Swap:                  0 kB
            7faf81700000-7faf81701000 rw-p 00000000 00:00 0
            Rss:                   4 kB
            Anonymous:             4 kB
            """;

        var mappings = FilePageRelease.Parse(smaps, "/opt/dp/device-plugin");

        Assert.NotNull(mappings);
        Assert.Equal(
            [(0x55b9d81dc000UL, "r--p", 140L, true), (0x55b9d81ff000UL, "r-xp", 7844L, true),
             (0x55b9d8f51000UL, "r--p", 3068L, false), // a private copy of a page (relocated data)
             (0x55b9d9265000UL, "rw-p", 276L, false), // writable
             (0x55b9d92ab000UL, "r--p", 4L, false), // a swapped private copy
             (0x55b9d92ac000UL, "r--s", 4L, false), // shared
             (0x55b9d92ad000UL, "r--p", 4L, false)], // no Anonymous line: not known to be clean
            mappings.Select(m => (m.Start, m.Permissions, m.RssKiB, m.IsReleasable)));
    }

    [Theory]
    [InlineData("55b9d81dc000-55b9d81ff000 r--p 00000000 fe:00 1 /x\nRss: many kB\n")]
    [InlineData("55b9d81dc000-55b9d81ff000 r--p 00000000 fe:00 1 /x\nRss 140 kB\n")]
    [InlineData("55b9d81dc000-55b9d81ff000 r--p 00000000 fe:00 1 /x\nRss: 140 MB\n")]
    public void Smaps_text_that_does_not_read_as_expected_releases_nothing(string smaps) =>
        Assert.Null(FilePageRelease.Parse(smaps, "/x"));

    [Fact]
    public unsafe void Released_pages_of_a_read_only_mapping_leave_the_resident_set_and_read_back_the_same()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("data.bin");
        var content = new byte[Pages * PageSize];
        new Random(7).NextBytes(content);
        File.WriteAllBytes(path, content);

        var map = MapFile(path, Prot.Read);
        try
        {
            var sum = Touch(map);
            Assert.True(ResidentKiB(path) >= Pages * PageSize / 1024, "every page was read, so every page is mapped");

            var result = FilePageRelease.Release(path);

            Assert.Null(result.Problem);
            Assert.Equal(1, result.Released);
            Assert.Equal(Pages * PageSize / 1024, result.ReleasedKiB);
            Assert.Equal(0, ResidentKiB(path));
            Assert.Equal(content, new ReadOnlySpan<byte>((void*)map, content.Length).ToArray());
            Assert.Equal(sum, Touch(map));
        }
        finally
        {
            Assert.Equal(0, Munmap(map, (nuint)content.Length));
        }
    }

    [Fact]
    public unsafe void A_mapping_with_written_pages_keeps_them_even_when_it_is_read_only_now()
    {
        // As relocated data: written while writable, then made read-only. Dropping its pages would lose the writes.
        using var dir = new TempDirectory();
        var path = dir.Combine("relro.bin");
        File.WriteAllBytes(path, new byte[Pages * PageSize]);

        var map = MapFile(path, Prot.Read | Prot.Write);
        try
        {
            var bytes = (byte*)map;
            for (var page = 0; page < Pages; page++)
            {
                bytes[page * PageSize] = (byte)(page + 1);
            }

            Assert.Equal(0, Mprotect(map, Pages * PageSize, (int)Prot.Read));

            var result = FilePageRelease.Release(path);

            Assert.Equal(0, result.Released);
            Assert.Equal(1, result.Skipped);
            for (var page = 0; page < Pages; page++)
            {
                Assert.Equal((byte)(page + 1), bytes[page * PageSize]);
            }
        }
        finally
        {
            Assert.Equal(0, Munmap(map, Pages * PageSize));
        }
    }

    private static long ResidentKiB(string path) =>
        FilePageRelease.Parse(File.ReadAllText("/proc/self/smaps"), path)!.Sum(m => m.RssKiB);

    private static unsafe long Touch(nint map)
    {
        long sum = 0;
        for (var offset = 0; offset < Pages * PageSize; offset += 64)
        {
            sum += ((byte*)map)[offset];
        }

        return sum;
    }

    private static nint MapFile(string path, Prot protection)
    {
        using var file = File.OpenHandle(path);
        var map = Mmap(0, Pages * PageSize, (int)protection, MapPrivate, (int)file.DangerousGetHandle(), 0);
        Assert.NotEqual(-1, map);
        return map;
    }

    [Flags]
    private enum Prot
    {
        Read = 1,
        Write = 2,
    }

    private const int MapPrivate = 2;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint address, nuint length, int protection);
}
