namespace DevicePlugin.Configuration;

/// <summary>Hands a source the settings type its own schema reads.</summary>
public static class SourceSettings
{
    /// <summary>
    /// <paramref name="settings"/> as <typeparamref name="TSettings"/>; another type means a resource reached a source
    /// whose schema did not read it, a defect, not a configuration error.
    /// </summary>
    public static TSettings As<TSettings>(ISourceSettings settings, string resource) where TSettings : class, ISourceSettings =>
        settings as TSettings
        ?? throw new InvalidOperationException($"resource {resource} carries {settings.GetType().Name}, not the {typeof(TSettings).Name} its source reads");
}
