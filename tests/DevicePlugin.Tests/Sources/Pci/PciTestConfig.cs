using System.Collections.Immutable;
using DevicePlugin.Configuration;
using System.Runtime.CompilerServices;
using DevicePlugin.Inventory;
using DevicePlugin.Pipeline;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Pci;
using DevicePlugin.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevicePlugin.Tests.Sources.Pci;

/// <summary>Configuration and construction shorthands for the pci tests.</summary>
internal static class PciTestConfig
{
    public static readonly TimeSpan RecoverAfter = TimeSpan.FromMinutes(5);

    public static ResourceConfig Resource(string name, params PciMatch[] match) =>
        new() { Name = name, Source = PciSchema.Kind, Settings = new PciSettings { Match = [.. match] } };

    public static PluginConfig Config(ImmutableArray<ResourceConfig> resources, bool isDefault = false, TimeSpan? recoverAfter = null) =>
        new()
        {
            Resources = resources,
            IsDefault = isDefault,
            Health = new HealthConfig { RecoverAfter = recoverAfter ?? RecoverAfter },
        };

    public static PciSourceOptions Options(FakeSysfs sys, TimeSpan? poll = null) => new()
    {
        SysfsRoot = sys.SysRoot,
        DevRoot = sys.DevRoot,
        PollInterval = poll ?? new PciSourceOptions().PollInterval,
    };

    /// <summary>An inventory configured and scanned once.</summary>
    public static PciInventory Scanned(FakeSysfs sys, ManualTimeProvider time, ImmutableArray<ResourceConfig> resources,
        bool isDefault = false, TimeSpan? recoverAfter = null)
    {
        var inventory = new PciInventory(Options(sys), time, NullLogger.Instance);
        inventory.Configure(resources, Config(resources, isDefault, recoverAfter));
        inventory.Rescan();
        return inventory;
    }

    /// <summary>The policies each inventory's resources were configured with, for <see cref="get_Snapshots"/>.</summary>
    private static readonly ConditionalWeakTable<PciInventory, ImmutableDictionary<string, ResourcePolicy>> Policies = new();

    /// <summary>Configures an inventory as the daemon would: the pci part of the configuration; the policies kept for the join.</summary>
    public static void Configure(this PciInventory inventory, ImmutableArray<ResourceConfig> resources, PluginConfig config)
    {
        var withResources = config with { Resources = resources };
        Policies.AddOrUpdate(inventory, withResources.Policies);
        inventory.Configure(SourceAssignment.For(PciSchema.Kind, withResources));
    }

    extension(PciInventory inventory)
    {
        /// <summary>The inventory's published resources joined with their policies, as the manager would join them.</summary>
        public ImmutableArray<ResourceSnapshot> Snapshots =>
            ResourceJoin.JoinAll(PciSchema.Kind, inventory.Published,
                Policies.TryGetValue(inventory, out var policies) ? policies : ImmutableDictionary<string, ResourcePolicy>.Empty);
    }
}
