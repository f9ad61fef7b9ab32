using System.Globalization;
using GpuRunner.Diagnostics.Host;

namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>A GPU as the native layer reports it: NVML's name and total memory in MiB (null when unknown).</summary>
public sealed record DetectedGpu(string Name, long? MemoryTotalMiB);

/// <summary>What matching compares. <see cref="Gpus"/> null means the GPU inventory is unknown (not "no GPU").</summary>
public sealed record MatchFacts
{
    public IReadOnlyList<DetectedGpu>? Gpus { get; init; }
    public int? Vcpu { get; init; }
    public string? VcpuSource { get; init; }
    public long? MemoryBytes { get; init; }
    public string? MemorySource { get; init; }
    public string? DiskPath { get; init; }
    public long? DiskTotalBytes { get; init; }
    public long? DiskFreeBytes { get; init; }

    /// <summary>Host facts plus the GPUs; the disk compared is the working directory's (the first listed).</summary>
    public static MatchFacts From(HostFacts host, IReadOnlyList<DetectedGpu>? gpus)
    {
        var disk = host.Disks.Count > 0 ? host.Disks[0] : null;
        return new MatchFacts
        {
            Gpus = gpus,
            Vcpu = host.Vcpu,
            VcpuSource = host.VcpuSource,
            MemoryBytes = host.MemoryBytes,
            MemorySource = host.MemorySource,
            DiskPath = disk?.Path,
            DiskTotalBytes = disk?.TotalBytes,
            DiskFreeBytes = disk?.FreeBytes,
        };
    }
}

/// <summary>
/// Turns detected facts into the best-matching flavor, field by field. The tolerance policy (README, "Tier
/// matching") is in the constants below: a figure at or above its nominal value matches; RAM and GPU memory
/// count from 90 % of the nominal GB because the OS and the driver keep some back.
/// </summary>
public sealed class TierMatcher(HardwareCatalogue catalogue)
{
    /// <summary>RAM and GPU memory match from this share of the nominal GB (10^9 bytes).</summary>
    public const double MemoryFloor = 0.90;
    /// <summary>Memory is "exact" up to nominal GiB (2^30) + 5 %: tables mix GB and GiB.</summary>
    public const double MemoryExactCeiling = 1.05;
    /// <summary>Disk size matches from this share of the nominal GB; more never makes a match inexact.</summary>
    public const double DiskFloor = 0.90;

    private const double Gb = 1e9, GiB = 1024d * 1024 * 1024, MiB = 1024d * 1024;

    public HardwareCatalogue Catalogue => catalogue;

    /// <summary>The best default tier for the facts; when none matches, says so and names the nearest.</summary>
    public TierMatch Match(MatchFacts facts)
    {
        var found = DescribeFound(facts);
        var scored = catalogue.DefaultFlavors.Select(f => Score(f, facts)).ToList();
        var fits = scored.Where(s => s.Fields.All(x => x.Ok)).OrderBy(s => s.Distance)
            .ThenBy(s => s.Flavor.PriceMicroUsdPerHour ?? long.MaxValue).ToList();
        var note = facts.Gpus is null ? " (GPU inventory unavailable: GPU not compared)" : "";
        if (fits.Count > 0)
        {
            var best = fits[0];
            var more = best.Fields.Where(x => x.Ok && x.Above)
                .Select(x => $"{x.Field.Field} {x.Field.Found.Split(" (")[0]} > {x.Field.Expected}").ToList();
            return new TierMatch
            {
                Flavor = best.Flavor.Id,
                Exact = best.Exact,
                Summary = best.Exact
                    ? $"matches {best.Flavor.Id}{note}"
                    : $"matches {best.Flavor.Id}, with more than its nominal figures: {string.Join(", ", more)}{note}",
                Fields = best.Fields.Select(x => x.Field).ToList(),
                Found = found,
            };
        }

        // Nearest: the GPU decides first (presence, then model and count); then the closest figures.
        var nearest = scored.OrderBy(s => s.GpuPenalty).ThenBy(s => s.Distance + 0.5 * s.OtherFailures).First();
        var other = catalogue.Flavors.Where(f => !f.IsDefault).Select(f => Score(f, facts))
            .Where(s => s.Fields.All(x => x.Ok)).OrderBy(s => s.Distance).FirstOrDefault();
        var diffs = string.Join("; ", nearest.Fields.Where(x => !x.Field.Ok).Select(x => Line(x.Field)));
        var summary = $"no tier in the catalogue matches {found}; nearest: {nearest.Flavor.Id} ({diffs})";
        if (other is not null)
            summary += $"; it fits the non-default catalogue entry {other.Flavor.Id}";
        return new TierMatch
        {
            Flavor = null,
            Exact = false,
            Summary = summary + note,
            Fields = nearest.Fields.Select(x => x.Field).ToList(),
            Nearest = nearest.Flavor.Id,
            NonDefaultMatch = other?.Flavor.Id,
            Found = found,
        };
    }

    /// <summary>`--expect FLAVOR`: every field of that flavor against the facts. Unknown id → <see cref="CatalogueException"/>.</summary>
    public TierMatch Compare(MatchFacts facts, string flavorId)
    {
        var flavor = catalogue.Find(flavorId) ?? throw new CatalogueException(UnknownFlavor(flavorId));
        var s = Score(flavor, facts);
        var ok = s.Fields.All(x => x.Ok);
        var fields = s.Fields.Select(x => x.Field).ToList();
        return new TierMatch
        {
            Flavor = ok ? flavor.Id : null,
            Exact = ok && s.Exact,
            Expected = flavor.Id,
            Summary = ok
                ? $"matches {flavor.Id}" + (s.Exact ? "" : " (with more than its nominal figures)")
                : $"does not match {flavor.Id}: {string.Join("; ", fields.Where(f => !f.Ok).Select(Line))}",
            Fields = fields,
            Found = DescribeFound(facts),
        };
    }

    private string UnknownFlavor(string id)
    {
        var ids = catalogue.Flavors.Select(f => f.Id).ToList();
        return $"unknown flavor '{id}'{Text.Suggestions.Hint(id, ids)}; the catalogue ({catalogue.Origin}) has: {string.Join(", ", ids)}";
    }

    private static string Line(TierField f) => f.Field == "gpu" ? $"expected {f.Expected}, found {f.Found}" : $"{f.Field}: expected {f.Expected}, found {f.Found}";

    private sealed record Scored(TierField Field, bool Above)
    {
        public bool Ok => Field.Ok;
    }

    private sealed record Result(Flavor Flavor, IReadOnlyList<Scored> Fields, bool Exact, double Distance, double GpuPenalty, int OtherFailures);

    private Result Score(Flavor flavor, MatchFacts facts)
    {
        var fields = new List<Scored>();
        var exact = true;
        double distance = 0, gpuPenalty = 0;
        var otherFailures = 0;

        void Add(string name, string expected, string found, bool ok, bool above, bool breaksExact, double? ratio, double weight = 0)
        {
            fields.Add(new Scored(new TierField(name, expected, found, ok), above));
            if (breaksExact) exact = false;
            if (!ok && weight > 0) gpuPenalty += weight;
            else if (!ok) otherFailures++;
            if (ratio is > 0) distance += Math.Abs(Math.Log(ratio.Value));
        }

        // GPU model and count.
        var expectedGpu = flavor.Gpu is { } g ? $"{g.Count}x {g.Model} {g.MemoryGB} GB" : "no GPU";
        if (facts.Gpus is null)
            Add("gpu", expectedGpu, "unknown (no GPU inventory; not compared)", true, false, false, null);
        else if (flavor.Gpu is null)
        {
            var ok = facts.Gpus.Count == 0;
            Add("gpu", expectedGpu, DescribeGpus(facts.Gpus), ok, false, !ok, null, weight: 100);
        }
        else
        {
            var tier = flavor.Gpu;
            var models = facts.Gpus.Select(d => ModelOf(d.Name)).ToList();
            var ok = facts.Gpus.Count == tier.Count && models.All(m => string.Equals(m, tier.Model, StringComparison.OrdinalIgnoreCase));
            Add("gpu", expectedGpu, DescribeGpus(facts.Gpus), ok, false, !ok, null, weight: facts.Gpus.Count == 0 ? 100 : 50);

            // GPU memory per device, from what the driver reports (or the model's nominal figure when it reports none).
            if (facts.Gpus.Count > 0)
            {
                var perGpu = facts.Gpus.Select(BytesOf).Where(b => b is not null).Select(b => b!.Value).ToList();
                if (perGpu.Count == 0)
                    Add("gpuMemory", $"{tier.MemoryGB} GB per GPU", "unknown (not compared)", true, false, false, null);
                else
                {
                    var least = perGpu.Min();
                    var memOk = least >= MemoryFloor * tier.MemoryGB * Gb;
                    var above = least > MemoryExactCeiling * tier.MemoryGB * GiB;
                    Add("gpuMemory", $"{tier.MemoryGB} GB per GPU", $"{FormatGb(least)} ({least / MiB:0} MiB) per GPU", memOk, above, !memOk || above,
                        least / (tier.MemoryGB * Gb));
                }
            }
        }

        if (flavor.Vcpu is { } vcpu)
        {
            if (facts.Vcpu is { } v)
                Add("vcpu", $"{vcpu} vCPU", $"{v} vCPU" + Source(facts.VcpuSource), v >= vcpu, v > vcpu, v != vcpu, (double)v / vcpu);
            else Add("vcpu", $"{vcpu} vCPU", "unknown (not compared)", true, false, false, null);
        }
        if (flavor.RamGB is { } ram)
        {
            if (facts.MemoryBytes is { } m)
            {
                var ok = m >= MemoryFloor * ram * Gb;
                var above = m > MemoryExactCeiling * ram * GiB;
                Add("ram", $"{ram} GB", FormatGb(m) + Source(facts.MemorySource), ok, above, !ok || above, m / (ram * Gb));
            }
            else Add("ram", $"{ram} GB", "unknown (not compared)", true, false, false, null);
        }
        if (flavor.DiskGB is { } disk)
        {
            if (facts.DiskTotalBytes is { } total)
            {
                // A container's overlay often shows the host's whole disk, so more disk never counts against a tier.
                var ok = total >= DiskFloor * disk * Gb;
                var free = facts.DiskFreeBytes is { } f ? $", {FormatGb(f)} free" : "";
                Add("disk", $"{disk} GB", $"{FormatGb(total)}{free} at {facts.DiskPath}", ok, false, !ok, null);
            }
            else Add("disk", $"{disk} GB", "unknown (not compared)", true, false, false, null);
        }
        return new Result(flavor, fields, exact, distance, gpuPenalty, otherFailures);
    }

    /// <summary>The GPU family of an NVML name: the catalogue's model, else the name without vendor prefixes.</summary>
    public string ModelOf(string nvmlName) =>
        catalogue.IdentifyGpu(nvmlName)?.Model ?? nvmlName.Trim().Replace("NVIDIA ", "", StringComparison.OrdinalIgnoreCase)
            .Replace("Tesla ", "", StringComparison.OrdinalIgnoreCase).Trim();

    private double? BytesOf(DetectedGpu gpu) =>
        gpu.MemoryTotalMiB is { } mib ? mib * MiB : catalogue.IdentifyGpu(gpu.Name)?.MemoryGB * Gb;

    /// <summary>"1x T4 16 GB", "2x A10G 24 GB + 1x T4 16 GB", "no GPU".</summary>
    public string DescribeGpus(IReadOnlyList<DetectedGpu> gpus)
    {
        if (gpus.Count == 0) return "no GPU";
        return string.Join(" + ", gpus.Select(Label).GroupBy(l => l).Select(grp => $"{grp.Count()}x {grp.Key}"));
    }

    private string Label(DetectedGpu gpu)
    {
        var spec = catalogue.IdentifyGpu(gpu.Name);
        var model = ModelOf(gpu.Name);
        // The nominal size reads like the tier table; a device well below it (a MIG slice) shows what it has.
        if (spec is not null && (gpu.MemoryTotalMiB is null || gpu.MemoryTotalMiB * MiB >= MemoryFloor * spec.MemoryGB * Gb))
            return $"{model} {spec.MemoryGB} GB";
        return gpu.MemoryTotalMiB is { } mib ? $"{model} {FormatGb(mib * MiB)}" : model;
    }

    public string DescribeFound(MatchFacts facts)
    {
        var parts = new List<string>();
        parts.Add(facts.Gpus is null ? "GPU unknown" : DescribeGpus(facts.Gpus));
        if (facts.Vcpu is { } v) parts.Add($"{v} vCPU");
        if (facts.MemoryBytes is { } m) parts.Add($"{FormatGb(m)} RAM");
        if (facts.DiskTotalBytes is { } d) parts.Add($"{FormatGb(d)} disk");
        return string.Join(", ", parts);
    }

    private static string Source(string? source) => string.IsNullOrEmpty(source) ? "" : $" ({source})";

    /// <summary>Decimal GB with one decimal, dropping ".0": 16106127360 → "16.1 GB".</summary>
    public static string FormatGb(double bytes) => (bytes / Gb).ToString("0.#", CultureInfo.InvariantCulture) + " GB";
}
