namespace DevicePlugin.Conformance;

/// <summary>One check of one resource: its name (see <see cref="Checks"/>), outcome and, unless it passed, why.</summary>
public sealed record CheckResult(string Resource, string Name, CheckStatus Status, string? Reason, TimeSpan Duration);
