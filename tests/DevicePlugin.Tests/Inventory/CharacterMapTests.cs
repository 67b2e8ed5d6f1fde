using DevicePlugin.Inventory;

namespace DevicePlugin.Tests.Inventory;

public sealed class CharacterMapTests
{
    [Fact]
    public void A_name_with_nothing_to_change_is_returned_as_is_without_a_copy()
    {
        // Allocate maps every requested ID to its CDI name; a valid name must not cost a new string per call.
        var id = string.Concat("GPU-", "00000004-1111-2222-3333-444455556666");

        Assert.Same(id, CdiNames.DeviceName(id));
        Assert.Same(id, CharacterMap.Map(id, static c => c));
    }

    [Theory]
    [InlineData("0000:3b:00.1", "0000:3b:00.1")]
    [InlineData("a/b c", "a_b_c")]
    [InlineData("/leading", "_leading")]
    [InlineData("trailing~", "trailing_")]
    [InlineData("", "")]
    public void Characters_outside_the_cdi_set_become_underscores_from_wherever_the_first_one_is(string id, string expected)
    {
        Assert.Equal(expected, CdiNames.DeviceName(id));
    }

    [Fact]
    public void The_characters_before_the_first_change_are_kept()
    {
        Assert.Equal("abc-DEF", CharacterMap.Map("abc-def", static c => char.IsAsciiLetterLower(c) && c > 'c' ? char.ToUpperInvariant(c) : c));
    }
}
