using System.Collections.Immutable;
using DevicePlugin.Configuration;
using DevicePlugin.Inventory;

namespace DevicePlugin.Sources;

/// <summary>One source as it is registered: its config schema (kind, keys, parser) and how a daemon creates it.</summary>
public sealed record SourceRegistration(ISourceSchema Schema, Func<SourceContext, IDeviceSource> Create);

/// <summary>
/// The sources a daemon knows, in registration order: the schemas its configuration is read with, the kinds it
/// applies, and how each is created. Immutable; <see cref="With"/> gives a catalog with one more source.
/// </summary>
public sealed class SourceCatalog
{
    private readonly ImmutableArray<SourceRegistration> _registrations;
    private readonly Dictionary<SourceKind, SourceRegistration> _byKind = [];

    public SourceCatalog(params IEnumerable<SourceRegistration> registrations)
    {
        _registrations = [.. registrations];
        Schemas = new SourceSchemas(_registrations.Select(r => r.Schema));
        foreach (var registration in _registrations)
        {
            _byKind[registration.Schema.Kind] = registration;
        }

        Kinds = [.. _registrations.Select(r => r.Schema.Kind)];
    }

    /// <summary>The config schemas of every registered source: what a configuration file is read with.</summary>
    public SourceSchemas Schemas { get; }

    public ImmutableArray<SourceKind> Kinds { get; }

    /// <summary>This catalog with one more source.</summary>
    public SourceCatalog With(ISourceSchema schema, Func<SourceContext, IDeviceSource> create) =>
        new([.. _registrations, new SourceRegistration(schema, create)]);

    public IDeviceSource Create(SourceKind kind, SourceContext context) =>
        _byKind.TryGetValue(kind, out var registration)
            ? registration.Create(context)
            : throw new SourceInitException($"the {kind.Name} source is not available in this build");
}
