using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DevicePlugin.Tests.Sources.Nvml;

/// <summary>
/// One copy of the stand-in libnvidia-ml.so.1 (tests/nvml-standin/fake_nvml.c) in its own temp directory, with its
/// nvml.conf and events file next to it, so tests run in parallel in one process. The C file is compiled with gcc
/// once per test run (with and without the optional functions); each instance copies the result.
/// </summary>
public sealed class FakeNvml : IDisposable
{
    public const string LibraryName = "libnvidia-ml.so.1";

    private static readonly string BuildRoot = Path.Combine(Path.GetTempPath(), $"nvml-standin-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private static readonly Lazy<string> FullBuild = new(() => Compile("full", []));
    private static readonly Lazy<string> BareBuild = new(() => Compile("bare", ["-DNO_OPTIONAL"]));
    private static readonly Lazy<string> NoMigBuild = new(() => Compile("nomig", ["-DNO_MIG"]));

    private nint _handle;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate long CountByName([MarshalAs(UnmanagedType.LPUTF8Str)] string function);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate long Count();

    static FakeNvml()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(BuildRoot, recursive: true);
            }
            catch (IOException)
            {
            }
        };
    }

    private FakeNvml(string directory, bool withOptionalFunctions, bool withMigFunctions = true)
    {
        Directory = directory;
        WithOptionalFunctions = withOptionalFunctions;
        WithMigFunctions = withMigFunctions;
    }

    /// <summary>The directory holding the library, nvml.conf and events.</summary>
    public string Directory { get; }

    public string LibraryPath => Path.Combine(Directory, LibraryName);

    public bool WithOptionalFunctions { get; }

    /// <summary>False: the library has nvmlDeviceGetMigMode but none of the functions that list MIG devices.</summary>
    public bool WithMigFunctions { get; }

    /// <summary>A stand-in configured with <paramref name="config"/> (nvml.conf lines), library in place and loaded.</summary>
    public static FakeNvml Create(string config, bool withOptionalFunctions = true, bool withMigFunctions = true)
    {
        var fake = CreateWithoutLibrary(config, withOptionalFunctions, withMigFunctions);
        fake.InstallLibrary();
        return fake;
    }

    /// <summary>
    /// A stand-in installed in <paramref name="directory"/> (created; deleted on dispose), as a driver tree holds it:
    /// <c>ROOT/usr/lib/x86_64-linux-gnu</c> for example.
    /// </summary>
    public static FakeNvml CreateIn(string directory, string config)
    {
        System.IO.Directory.CreateDirectory(directory);
        var fake = new FakeNvml(directory, withOptionalFunctions: true);
        fake.WriteConfig(config);
        fake.InstallLibrary();
        return fake;
    }

    /// <summary>A stand-in whose library file is not there yet (a driver installed later): call <see cref="InstallLibrary"/>.</summary>
    public static FakeNvml CreateWithoutLibrary(string config, bool withOptionalFunctions = true, bool withMigFunctions = true)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"nvml-test-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        var fake = new FakeNvml(directory, withOptionalFunctions, withMigFunctions);
        fake.WriteConfig(config);
        return fake;
    }

    /// <summary>Copies the compiled library in and loads it here too, so its counters outlive the source's handle.</summary>
    public void InstallLibrary()
    {
        // Copy, then rename: a source retrying in the background never sees a half-written file.
        var partial = LibraryPath + ".partial";
        File.Copy(!WithOptionalFunctions ? BareBuild.Value : WithMigFunctions ? FullBuild.Value : NoMigBuild.Value, partial);
        File.Move(partial, LibraryPath);
        _handle = NativeLibrary.Load(LibraryPath);
    }

    /// <summary>Replaces nvml.conf; the stand-in reads it at the next nvmlInit_v2 that finds it uninitialised.</summary>
    public void WriteConfig(string config) => File.WriteAllText(Path.Combine(Directory, "nvml.conf"), config);

    /// <summary>Appends an event line (<c>xid 1 79</c>, <c>dbe 0</c>, <c>lost 2</c>, …) for nvmlEventSetWait_v2 to deliver.</summary>
    public void Inject(string line) => File.AppendAllText(Path.Combine(Directory, "events"), line + "\n");

    /// <summary>How many times the named NVML function was called in this copy of the library.</summary>
    public long Calls(string function)
    {
        var count = Export<CountByName>("fake_get_call_count");
        var n = count(function);
        Assert.True(n >= 0, $"the stand-in does not count {function}");
        return n;
    }

    public long TotalCalls() => Export<Count>("fake_total_calls")();

    /// <summary>Every call but those to <paramref name="function"/> (the health thread's event waits), read at once.</summary>
    public long TotalCallsExcept(string function) => Export<CountByName>("fake_total_calls_except")(function);

    /// <summary>Lines of the events file the stand-in has handled so far.</summary>
    public long EventsConsumed() => Export<Count>("fake_events_consumed")();

    private T Export<T>(string name) where T : Delegate =>
        Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(_handle, name));

    /// <summary>Waits (spinning, bounded) until the stand-in has handled <paramref name="count"/> event lines.</summary>
    public void WaitForEventsConsumed(long count, TimeSpan timeout) =>
        Assert.True(SpinWait.SpinUntil(() => EventsConsumed() >= count, timeout),
            $"the stand-in handled {EventsConsumed()} event lines, expected {count}");

    public void Dispose()
    {
        if (_handle != 0)
        {
            NativeLibrary.Free(_handle);
            _handle = 0;
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string Compile(string flavour, string[] defines)
    {
        var source = FindSource();
        var outputDirectory = Path.Combine(BuildRoot, flavour);
        System.IO.Directory.CreateDirectory(outputDirectory);
        var output = Path.Combine(outputDirectory, LibraryName);
        var start = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in (string[])["-shared", "-fPIC", "-O2", "-Wall", "-Werror", .. defines, "-o", output, source, "-lpthread"])
        {
            start.ArgumentList.Add(arg);
        }

        using var gcc = Process.Start(start) ?? throw new InvalidOperationException("gcc could not be started");
        var errors = gcc.StandardError.ReadToEndAsync();
        gcc.StandardOutput.ReadToEnd();
        gcc.WaitForExit();
        if (gcc.ExitCode != 0)
        {
            throw new InvalidOperationException($"gcc failed to build the NVML stand-in ({flavour}): {errors.Result}");
        }

        return output;
    }

    private static string FindSource()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "nvml-standin", "fake_nvml.c");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("tests/nvml-standin/fake_nvml.c not found above " + AppContext.BaseDirectory);
    }
}
