using System.Reflection;
using System.Reflection.Emit;
using DevicePlugin.Allocation;

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

        var references = types.SelectMany(ReferencesOf)
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
        Assert.Contains(BodyReferences(method), t => t == typeof(Grpc.Core.Status));
    }

    private static object UsesGrpc() => new Grpc.Core.Status(Grpc.Core.StatusCode.OK, "x");

    private static IEnumerable<(string From, Type? Referenced)> ReferencesOf(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var name = type.FullName ?? type.Name;
        yield return (name, type.BaseType);
        foreach (var i in type.GetInterfaces())
        {
            yield return (name, i);
        }

        foreach (var f in type.GetFields(all))
        {
            yield return ($"{name}.{f.Name}", f.FieldType);
        }

        foreach (var p in type.GetProperties(all))
        {
            yield return ($"{name}.{p.Name}", p.PropertyType);
        }

        foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            var where = $"{name}.{m.Name}";
            if (m is MethodInfo mi)
            {
                yield return (where, mi.ReturnType);
            }

            foreach (var p in m.GetParameters())
            {
                yield return (where, p.ParameterType);
            }

            foreach (var t in BodyReferences(m))
            {
                yield return (where, t);
            }
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every type a method body names through a metadata token (calls, fields, types, tokens).</summary>
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        var module = method.Module;
        var typeArgs = method.DeclaringType?.IsGenericType == true ? method.DeclaringType.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[i++]);
            }

            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineMethod:
                case OperandType.InlineField:
                case OperandType.InlineType:
                case OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, i);
                    i += 4;
                    var member = module.ResolveMember(token, typeArgs, methodArgs);
                    switch (member)
                    {
                        case Type t:
                            yield return t;
                            break;
                        case FieldInfo f:
                            yield return f.DeclaringType!;
                            yield return f.FieldType;
                            break;
                        case MethodBase m:
                            yield return m.DeclaringType!;
                            if (m is MethodInfo mi)
                            {
                                yield return mi.ReturnType;
                            }

                            foreach (var p in m.GetParameters())
                            {
                                yield return p.ParameterType;
                            }

                            break;
                    }

                    break;
                case OperandType.InlineSwitch:
                    var count = BitConverter.ToInt32(il, i);
                    i += 4 + (4 * count);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                default:
                    i += 4;
                    break;
            }
        }
    }
}
