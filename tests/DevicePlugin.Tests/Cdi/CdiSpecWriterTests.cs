using System.Collections.Immutable;
using System.Text.Json;
using DevicePlugin.Cdi;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Sources.Simulated;

namespace DevicePlugin.Tests.Cdi;

public sealed class CdiSpecWriterTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "cdi-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private CdiSpecWriter Writer(string? directory = null) =>
        new(new CdiConfig { SpecDirectory = directory ?? _directory }, NullLogger<CdiSpecWriter>.Instance);

    private string[] Files() =>
        Directory.EnumerateFiles(_directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Writes_a_valid_spec_per_resource_named_after_the_kind_creating_the_directory()
    {
        var writer = Writer();
        Assert.Equal(CdiWriteResult.Written, writer.Write(CdiSpecTests.Gpus()));
        Assert.Equal(CdiWriteResult.Written, writer.Write(CdiSpecTests.Fpgas()));

        Assert.Equal(["example.com-fpga.json", "nvidia.com-gpu.json"], Files());
        var path = Path.Combine(_directory, "nvidia.com-gpu.json");
        Assert.Equal(path, writer.PathOf("nvidia.com/gpu"));
        using var json = JsonDocument.Parse(File.ReadAllBytes(path));
        Assert.Empty(CdiSpecValidator.Validate(json.RootElement));
        Assert.Equal("nvidia.com/gpu", json.RootElement.GetProperty("kind").GetString());
        Assert.Equal(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(path) & ~(UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
    }

    [Fact]
    public void Rewrites_only_when_the_content_changes()
    {
        var writer = Writer();
        var snapshot = CdiSpecTests.Fpgas();
        Assert.Equal(CdiWriteResult.Written, writer.Write(snapshot));
        var path = writer.PathOf(snapshot.ResourceName)!;
        var inode = new FileInfo(path).LastWriteTimeUtc;
        var before = File.ReadAllText(path);

        // A new snapshot with equal devices (health changes do not alter the spec).
        var healthChanged = new ResourceSnapshot(
            snapshot.ResourceName, snapshot.Source,
            snapshot.Devices.Select(d => d with { Health = DeviceHealth.Unhealthy }).ToImmutableArray(),
            sharedDeviceNodes: snapshot.SharedDeviceNodes, naming: snapshot.Naming);
        Assert.Equal(CdiWriteResult.Unchanged, writer.Write(healthChanged));
        Assert.Equal(inode, new FileInfo(path).LastWriteTimeUtc);

        var grown = CdiSpecTests.Fpgas("example.com/fpga", "0000:3b:00.0", "0000:af:00.0", "0000:d8:00.0");
        Assert.Equal(CdiWriteResult.Written, writer.Write(grown));
        Assert.NotEqual(before, File.ReadAllText(path));
        Assert.Contains("0000:d8:00.0", File.ReadAllText(path));
        Assert.Equal(["example.com-fpga.json"], Files());
    }

    [Fact]
    public void Replaces_the_file_by_rename_so_a_reader_never_sees_a_partial_spec()
    {
        var writer = Writer();
        writer.Write(CdiSpecTests.Fpgas());
        var path = writer.PathOf("example.com/fpga")!;
        var old = File.ReadAllText(path);

        // A reader that opened the old file keeps reading the old, complete content: the new one is a new inode.
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        writer.Write(CdiSpecTests.Fpgas("example.com/fpga", "0000:3b:00.0"));
        using var text = new StreamReader(reader);
        Assert.Equal(old, text.ReadToEnd());
        Assert.NotEqual(old, File.ReadAllText(path));

        // No temporary file left behind.
        Assert.Equal(["example.com-fpga.json"], Directory.EnumerateFileSystemEntries(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void Rewrites_a_spec_someone_deleted()
    {
        var writer = Writer();
        writer.Write(CdiSpecTests.Gpus());
        File.Delete(writer.PathOf("nvidia.com/gpu")!);
        Assert.Equal(CdiWriteResult.Written, writer.Write(CdiSpecTests.Gpus()));
        Assert.True(File.Exists(writer.PathOf("nvidia.com/gpu")));
    }

    [Fact]
    public void Remove_and_remove_all_delete_only_this_writers_specs()
    {
        var writer = Writer();
        writer.Write(CdiSpecTests.Gpus());
        writer.Write(CdiSpecTests.Fpgas());
        writer.Write(CdiSpecTests.Fpgas("example.com/other"));
        File.WriteAllText(Path.Combine(_directory, "vendor-owned.yaml"), "cdiVersion: 0.3.0\n");

        Assert.True(writer.Remove("example.com/fpga"));
        Assert.False(writer.Remove("example.com/fpga"));
        Assert.False(writer.Remove("example.com/never-written"));
        Assert.Null(writer.PathOf("example.com/fpga"));
        Assert.Equal(["example.com-other.json", "nvidia.com-gpu.json", "vendor-owned.yaml"], Files());

        writer.RemoveAll();
        Assert.Equal(["vendor-owned.yaml"], Files());
    }

    [Fact]
    public void A_resource_without_nameable_devices_has_no_spec()
    {
        var writer = Writer();
        writer.Write(CdiSpecTests.Fpgas());
        var empty = new ResourceSnapshot("example.com/fpga", PciSchema.Kind, [], naming: DeviceNaming.Cdi);
        Assert.Equal(CdiWriteResult.Removed, writer.Write(empty));
        Assert.Empty(Files());
    }

    [Fact]
    public void Resources_named_by_env_only_get_no_spec_and_lose_theirs_when_switching_to_env()
    {
        var writer = Writer();
        var cdi = CdiSpecTests.Fpgas();
        var env = new ResourceSnapshot(
            cdi.ResourceName, cdi.Source, cdi.Devices, sharedDeviceNodes: cdi.SharedDeviceNodes, naming: DeviceNaming.Env);

        Assert.Equal(CdiWriteResult.Removed, writer.Write(env));
        Assert.False(Directory.Exists(_directory) && Files().Length > 0);

        Assert.Equal(CdiWriteResult.Written, writer.Write(cdi));
        Assert.Equal(CdiWriteResult.Removed, writer.Write(env));
        Assert.Empty(Files());
    }

    [Fact]
    public void A_resource_named_by_env_is_not_built_into_a_spec_so_its_cdi_problems_are_not_logged()
    {
        using var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var writer = new CdiSpecWriter(new CdiConfig { SpecDirectory = _directory }, factory.CreateLogger<CdiSpecWriter>());
        var env = new ResourceSnapshot(
            "example.com/fpga", PciSchema.Kind, [new PhysicalDevice { Id = "-bad-" }], naming: DeviceNaming.Env,
            cdiKind: "bad kind/x");

        Assert.Equal(CdiWriteResult.Removed, writer.Write(env));
        Assert.Empty(logs.Lines);
    }

    [Fact]
    public void A_changed_kind_moves_the_spec_to_its_new_file()
    {
        var writer = Writer();
        var before = CdiSpecTests.Fpgas();
        writer.Write(before);
        var renamed = new ResourceSnapshot(
            before.ResourceName, before.Source, before.Devices, sharedDeviceNodes: before.SharedDeviceNodes,
            naming: DeviceNaming.Cdi, cdiKind: "example.com/accel");
        Assert.Equal(CdiWriteResult.Written, writer.Write(renamed));
        Assert.Equal(["example.com-accel.json"], Files());
    }

    [Fact]
    public void Failures_are_reported_not_thrown_and_leave_other_specs_alone()
    {
        var writer = Writer();
        Assert.Equal(CdiWriteResult.Written, writer.Write(CdiSpecTests.Gpus()));
        Assert.Equal(CdiWriteResult.Failed, writer.Write(CdiSpecTests.Fpgas("bad kind/x")));

        // Two resources whose kinds map to the same file: the second is refused.
        var clash = new ResourceSnapshot(
            "example.com/gpu-copy", SimulatedSchema.Kind, [new PhysicalDevice { Id = "x" }], naming: DeviceNaming.Cdi,
            cdiKind: "nvidia.com/gpu");
        Assert.Equal(CdiWriteResult.Failed, writer.Write(clash));
        Assert.Equal(["nvidia.com-gpu.json"], Files());

        // A directory that cannot be created (a file is in the way).
        var blocked = Path.Combine(_directory, "nvidia.com-gpu.json", "sub");
        Assert.Equal(CdiWriteResult.Failed, Writer(blocked).Write(CdiSpecTests.Fpgas()));
        Assert.Equal(["nvidia.com-gpu.json"], Files());
    }
}
