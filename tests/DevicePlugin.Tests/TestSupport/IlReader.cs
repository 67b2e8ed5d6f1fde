using System.Reflection;
using System.Reflection.Emit;

namespace DevicePlugin.Tests.TestSupport;

/// <summary>Reads what compiled code refers to, from metadata and method bodies' IL (for architecture tests).</summary>
internal static class IlReader
{
    /// <summary>Every type a type names: base, interfaces, fields, properties, signatures and method bodies.</summary>
    public static IEnumerable<(string From, Type? Referenced)> ReferencesOf(Type type)
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
    public static IEnumerable<Type> BodyReferences(MethodBase method) => Operands(method).OfType<Type>();

    /// <summary>Every string literal a method body loads (<c>ldstr</c>).</summary>
    public static IEnumerable<string> BodyStrings(MethodBase method) => Operands(method).OfType<string>();

    /// <summary>The types a method body names through a metadata token (calls, fields, types, tokens) and the strings it loads.</summary>
    private static IEnumerable<object> Operands(MethodBase method)
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
                case OperandType.InlineString:
                    yield return module.ResolveString(BitConverter.ToInt32(il, i));
                    i += 4;
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
