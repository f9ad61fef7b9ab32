namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>
/// The "tier" of the device report (docs/contracts.md). <see cref="Flavor"/> is null when no default tier matches;
/// <see cref="Fields"/> then compare against <see cref="Nearest"/>.
/// </summary>
public sealed record TierMatch
{
    /// <summary>The matching flavor id (with --expect: the expected one, when it matches).</summary>
    public string? Flavor { get; init; }
    /// <summary>Every compared figure is the nominal one (not merely at least it).</summary>
    public bool Exact { get; init; }
    /// <summary>One line for a log: "matches a10g-small" / "no tier in the catalogue matches 1x H200 141 GB, ...".</summary>
    public required string Summary { get; init; }
    public required IReadOnlyList<TierField> Fields { get; init; }
    /// <summary>With --expect: the flavor that was expected.</summary>
    public string? Expected { get; init; }
    /// <summary>When nothing matches: the closest default tier (what <see cref="Fields"/> compare against).</summary>
    public string? Nearest { get; init; }
    /// <summary>When no default tier matches: a newer / non-default catalogue entry that does (e.g. "h200").</summary>
    public string? NonDefaultMatch { get; init; }
    /// <summary>The detected facts in one phrase: "1x H200 141 GB, 16 vCPU, 135.2 GB RAM, 270.6 GB disk".</summary>
    public string? Found { get; init; }

    /// <summary>"expected 1x A10G 24 GB, found 1x T4 16 GB" per differing field.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IEnumerable<string> Mismatches => Fields.Where(f => !f.Ok).Select(f => $"{f.Field}: expected {f.Expected}, found {f.Found}");
}

/// <summary>One compared figure. <see cref="Ok"/> is false only for a known difference; unknown figures are not compared.</summary>
public sealed record TierField(string Field, string Expected, string Found, bool Ok);
