using System.Reflection;
using System.Reflection.Emit;
using DevicePlugin.Allocation;
using DevicePlugin.Tests.TestSupport;

namespace DevicePlugin.Tests.Allocation;

/// <summary>
/// The allocation code speaks in domain terms only: no type in the Allocation namespace refers to gRPC or to the
/// generated kubelet API, in its signatures, fields, base types or method bodies (read from the IL).
/// </summary>
public sealed class AllocationPurityTests
{
    private static readonly string[] Forbidden = ["Grpc.", "Google.Protobuf", "DevicePlugin.Api"];

    [Fact]
    public void Allocation_refers_to_neither_grpc_nor_the_generated_api()
    {
        var types = typeof(ContainerAllocationBuilder).Assembly.GetTypes()
            .Where(t => t.Namespace == "DevicePlugin.Allocation")
            .ToArray();
        Assert.Contains(typeof(PreferredAllocator), types);

        var references = types.SelectMany(IlReader.ReferencesOf)
            .Where(r => r.Referenced is not null && Forbidden.Any(f => (r.Referenced.FullName ?? r.Referenced.Name).StartsWith(f, StringComparison.Ordinal)))
            .Select(r => $"{r.From}: {r.Referenced!.FullName}")
            .Distinct()
            .ToArray();
        Assert.Empty(references);
    }

    [Fact]
    public void The_il_reader_sees_references_in_method_bodies()
    {
        // The check above is only as good as its IL reader: it must find the gRPC type this method body creates.
        var method = typeof(AllocationPurityTests).GetMethod(nameof(UsesGrpc), BindingFlags.NonPublic | BindingFlags.Static)!;
        Assert.Contains(IlReader.BodyReferences(method), t => t == typeof(Grpc.Core.Status));
    }

    private static object UsesGrpc() => new Grpc.Core.Status(Grpc.Core.StatusCode.OK, "x");
}
