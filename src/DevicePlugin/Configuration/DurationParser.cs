using System.Globalization;

namespace DevicePlugin.Configuration;

/// <summary>Parses durations written as Kubernetes does (Go's <c>time.ParseDuration</c>): <c>5m</c>, <c>1h30m</c>, <c>500ms</c>, <c>0</c>.</summary>
public static class DurationParser
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        text = text.Trim();
        if (text == "0")
        {
            return true;
        }

        if (text.Length == 0)
        {
            return false;
        }

        var total = 0.0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            double? unitMs = text[unitStart..i] switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => null,
            };
            if (unitMs is not { } ms)
            {
                return false;
            }

            total += number * ms;
        }

        // Beyond what TimeSpan holds (about 29,000 years) is a bad value, not an OverflowException.
        if (double.IsNaN(total) || double.IsInfinity(total) || total >= TimeSpan.MaxValue.TotalMilliseconds)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(total);
        return true;
    }
}
