using DevicePlugin.Inventory;
using DevicePlugin.Sources;
using DevicePlugin.Sources.Nvml;
using DevicePlugin.Sources.Pci;

namespace DevicePlugin.Tests.Inventory;

/// <summary>Resources a source derives from a configured one (MIG profiles): merged by name, configured names first.</summary>
public sealed class DerivedResourceTests
{
    private static ResourceSnapshot Snapshot(string name, SourceKind source, string id, string? configuredName = null) =>
        new(name, source, [new PhysicalDevice { Id = id }], configuredName: configuredName);

    [Fact]
    public void A_derived_resource_is_advertised_next_to_the_configured_ones()
    {
        var state = InventoryState.Empty
            .With(NvmlSchema.Kind, [Snapshot("a.com/gpu", NvmlSchema.Kind, "GPU-0"), Snapshot("a.com/mig-1g.10gb", NvmlSchema.Kind, "MIG-0", "a.com/gpu")]);

        Assert.Equal(["a.com/gpu", "a.com/mig-1g.10gb"], state.Resources.Keys);
        Assert.False(state.Resources["a.com/gpu"].IsDerived);
        Assert.True(state.Resources["a.com/mig-1g.10gb"].IsDerived);
        Assert.Equal("a.com/gpu", state.Resources["a.com/mig-1g.10gb"].ConfiguredName);
        Assert.Empty(state.Conflicts);
    }

    [Fact]
    public void A_configured_resource_keeps_its_name_against_a_derived_one_of_any_source_and_the_conflict_is_described()
    {
        // The simulated source is merged first, so order alone would not decide it.
        var state = InventoryState.Empty
            .With(NvmlSchema.Kind, [Snapshot("a.com/gpu", NvmlSchema.Kind, "GPU-0"), Snapshot("a.com/mig-1g.10gb", NvmlSchema.Kind, "MIG-0", "a.com/gpu")])
            .With(PciSchema.Kind, [Snapshot("a.com/mig-1g.10gb", PciSchema.Kind, "0000:3b:00.0")]);

        Assert.Equal("0000:3b:00.0", Assert.Single(state.Resources["a.com/mig-1g.10gb"].Devices).Id);
        var conflict = Assert.Single(state.Conflicts);
        Assert.Contains("a.com/mig-1g.10gb (derived from a.com/gpu) is left out", conflict, StringComparison.Ordinal);
    }
}
