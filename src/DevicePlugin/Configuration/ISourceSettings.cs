namespace DevicePlugin.Configuration;

/// <summary>
/// A source's own settings for one resource (its keys of the resource's entry), read by the source's
/// <see cref="ISourceSchema"/> and opaque to everything but that source. Implementations are immutable and equal when
/// the source would serve the resource the same way: a resource whose settings are unchanged is not handed to its
/// source again.
/// </summary>
public interface ISourceSettings;
