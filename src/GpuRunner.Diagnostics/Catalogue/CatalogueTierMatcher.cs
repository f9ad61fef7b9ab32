using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>The report's tier section: <see cref="TierMatcher"/> over a catalogue, fed the report's host and GPUs.</summary>
public sealed class CatalogueTierMatcher(HardwareCatalogue catalogue) : ITierMatcher
{
    private readonly TierMatcher _matcher = new(catalogue);

    public IReadOnlyList<string> Flavors { get; } = catalogue.Flavors.Select(f => f.Id).ToList();

    public TierReport? Match(HostReport? host, IReadOnlyList<GpuReport> gpus, string? expect)
    {
        var disk = host?.Disks.FirstOrDefault();
        var facts = new MatchFacts
        {
            // Without a loaded driver the list is empty: no usable GPU, which is what a tier needs.
            Gpus = gpus.Select(g => new DetectedGpu(g.Name ?? "unknown GPU", g.MemoryTotalMiB)).ToList(),
            Vcpu = host?.Vcpu,
            VcpuSource = host?.VcpuSource,
            MemoryBytes = host is { MemoryBytes: > 0 } ? host.MemoryBytes : null,
            MemorySource = host?.MemorySource,
            DiskPath = disk?.Path,
            DiskTotalBytes = disk?.TotalBytes,
            DiskFreeBytes = disk?.FreeBytes,
        };
        var match = expect is null ? _matcher.Match(facts) : _matcher.Compare(facts, expect);
        return new TierReport
        {
            Flavor = match.Flavor,
            Exact = match.Exact,
            Summary = match.Summary,
            Fields = match.Fields.Select(f => new TierFieldReport(f.Field, f.Expected, f.Found, f.Ok)).ToList(),
        };
    }
}
