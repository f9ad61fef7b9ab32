namespace GpuRunner.Diagnostics.Requirements;

/// <summary>One requirement line of a pip requirements file (after continuations are joined).</summary>
public sealed record RequirementEntry
{
    public required string File { get; init; }
    /// <summary>1-based line where the (possibly continued) line starts.</summary>
    public required int Line { get; init; }
    /// <summary>The requirement as written, without comment and per-requirement options.</summary>
    public required string Text { get; init; }
    /// <summary>Normalized project name (PEP 503: lower case, runs of -_. as one '-').</summary>
    public required string Name { get; init; }
    public IReadOnlyList<string> Extras { get; init; } = [];
    /// <summary>The version specifier as written (">=2.0,<3"), or null.</summary>
    public string? Specifier { get; init; }
    /// <summary>The version of an exact pin (== or ===), without its local label; null otherwise.</summary>
    public string? PinnedVersion { get; init; }
    /// <summary>The local version label of a pin or wheel ("cu121" of 2.3.1+cu121), lower case.</summary>
    public string? Local { get; init; }
    public string? Marker { get; init; }
    /// <summary>A direct reference (URL or path of a wheel).</summary>
    public string? Url { get; init; }
    /// <summary>False when the marker excludes Linux x86_64; null when the marker was not decidable.</summary>
    public bool? MarkerApplies { get; init; }
}

/// <summary>Index options in effect (pip applies them to the whole file, wherever they are written).</summary>
public sealed record PipOptions
{
    public string? IndexUrl { get; init; }
    public IReadOnlyList<string> ExtraIndexUrls { get; init; } = [];
    public IReadOnlyList<string> FindLinks { get; init; } = [];
    public bool NoIndex { get; init; }
}

public sealed record ParsedRequirements(IReadOnlyList<RequirementEntry> Requirements, PipOptions Options, IReadOnlyList<string> Notes);

/// <summary>A requirements file that cannot be read or parsed; the message is one line ("FILE:LINE: problem").</summary>
public sealed class RequirementsException(string message, Exception? inner = null) : Exception(message, inner);
