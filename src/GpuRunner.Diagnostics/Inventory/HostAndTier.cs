using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Host;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Inventory;

/// <summary>Turns detected facts into the best-matching flavor, or checks an expected one.</summary>
public interface ITierMatcher
{
    /// <summary>
    /// The match; with <paramref name="expect"/>, the comparison against that flavor. <paramref name="gpus"/> null
    /// means the GPU inventory is unknown (NVML failed), which is not the same as "no GPU". Null without a catalogue.
    /// </summary>
    TierMatch? Match(HostFacts? host, IReadOnlyList<GpuReport>? gpus, string? expect);

    /// <summary>The catalogue's flavor ids (empty without a catalogue).</summary>
    IReadOnlyList<string> Flavors { get; }

    /// <summary>Null when <paramref name="flavor"/> is in the catalogue, else the one-line usage error (with a "did you mean").</summary>
    string? Validate(string flavor);

    /// <summary>Whether <paramref name="flavor"/> comes with a GPU; null when the catalogue does not know it.</summary>
    bool? HasGpu(string flavor);
}

/// <summary>What a report needs besides the GPU layer: host facts and the catalogue. Swappable for tests.</summary>
public sealed class DiagnosticsServices(Func<HostFacts> host, ITierMatcher tiers)
{
    public Func<HostFacts> Host { get; } = host;
    public ITierMatcher Tiers { get; } = tiers;

    /// <summary>The real host probe and the catalogue named by GPURUNNER_CATALOGUE (else the built-in one).</summary>
    public static DiagnosticsServices ForCatalogue(HardwareCatalogue catalogue) =>
        new(HostProbe.Collect, new CatalogueTierMatcher(new TierMatcher(catalogue)));
}

/// <summary>Adapts the catalogue's <see cref="TierMatcher"/> to the report's GPU list.</summary>
public sealed class CatalogueTierMatcher(TierMatcher matcher) : ITierMatcher
{
    public IReadOnlyList<string> Flavors => matcher.Catalogue.Flavors.Select(f => f.Id).ToList();

    public string? Validate(string flavor)
    {
        if (matcher.Catalogue.Find(flavor) is not null) return null;
        try { matcher.Compare(new MatchFacts(), flavor); return $"unknown flavor '{flavor}'"; }
        catch (CatalogueException e) { return e.Message; } // names the catalogue's flavors and the closest one
    }

    public bool? HasGpu(string flavor) => matcher.Catalogue.Find(flavor) is { } f ? f.Gpu is { Count: > 0 } : null;

    public TierMatch? Match(HostFacts? host, IReadOnlyList<GpuReport>? gpus, string? expect)
    {
        if (host is null) return null;
        var detected = gpus?.Select(g => new DetectedGpu(g.Name ?? "unknown GPU", g.MemoryTotalMiB)).ToList();
        var facts = MatchFacts.From(host, detected);
        return expect is null ? matcher.Match(facts) : matcher.Compare(facts, expect);
    }
}

/// <summary>No catalogue (tests, or a catalogue that failed to load): nothing to match against.</summary>
public sealed class NoCatalogue : ITierMatcher
{
    public TierMatch? Match(HostFacts? host, IReadOnlyList<GpuReport>? gpus, string? expect) => null;
    public IReadOnlyList<string> Flavors => [];
    public string? Validate(string flavor) => null; // nothing to validate against: the tier check reports it
    public bool? HasGpu(string flavor) => null;
}
