using System.Globalization;

namespace DevicePlugin.ProcessBench;

/// <summary>Samples of one measure; shown as min / median / max.</summary>
public sealed class Series(string unit)
{
    private readonly List<double> _samples = [];

    public string Unit { get; } = unit;

    public int Count => _samples.Count;

    public IReadOnlyCollection<double> Samples => _samples;

    public void Add(double value) => _samples.Add(value);

    public double Median => Percentile(_samples, 50);

    public double Min => _samples.Count == 0 ? double.NaN : _samples.Min();

    public double Max => _samples.Count == 0 ? double.NaN : _samples.Max();

    public static double Percentile(IReadOnlyCollection<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public string Format()
    {
        if (_samples.Count == 0)
        {
            return "–";
        }

        return _samples.Count == 1
            ? $"{Number(Median)} {Unit}"
            : $"**{Number(Median)}** ({Number(Min)} – {Number(Max)}) {Unit}";
    }

    public static string Number(double v) => v switch
    {
        double.NaN => "–",
        >= 1000 => v.ToString("N0", CultureInfo.InvariantCulture),
        >= 100 => v.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => v.ToString("0.0", CultureInfo.InvariantCulture),
        _ => v.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
