namespace DevicePlugin.Cdi;

/// <summary>What <see cref="CdiSpecWriter.Write"/> did.</summary>
public enum CdiWriteResult
{
    /// <summary>The spec file was written (new or changed content).</summary>
    Written,
    /// <summary>The file already holds this content; nothing was touched.</summary>
    Unchanged,
    /// <summary>
    /// The resource needs no spec (naming <c>env</c>) or has no device CDI can name: its spec file was removed (or none
    /// existed).
    /// </summary>
    Removed,
    /// <summary>The spec could not be written (invalid kind, name clash, I/O error); logged, the old file kept.</summary>
    Failed,
}
