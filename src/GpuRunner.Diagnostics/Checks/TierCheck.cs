namespace GpuRunner.Diagnostics.Checks;

/// <summary>The hardware matches a catalogue flavor; with --expect, exactly that one (every differing field named).</summary>
public sealed class TierCheck : ICheck
{
    public string Id => "tier.match";
    public string Title => "the hardware tier matches";
    public TimeSpan Deadline => TimeSpan.FromSeconds(5);
    public IReadOnlyList<string> Requires => ["nvml.init"];

    public CheckOutcome Run(CheckContext context)
    {
        var report = context.Report;
        var tier = report.Tier = context.Services.Tiers.Match(report.Host, context.GpusKnown ? report.Gpus : null, context.Expect);
        if (context.Expect is null)
            return CheckOutcome.Skip($"no --expect given; {tier?.Summary ?? "no hardware catalogue available"}");
        if (tier is null)
            return CheckOutcome.Fail($"cannot check --expect {context.Expect}: no hardware catalogue available",
                new Diagnosis("no-catalogue", "the hardware catalogue could not be read", "check requirements/ or pass --catalogue FILE"));
        var wrong = tier.Fields.Where(f => !f.Ok).ToList();
        if (wrong.Count == 0) return CheckOutcome.Pass(tier.Summary);
        return CheckOutcome.Fail(string.Join("; ", wrong.Select(Line)),
            new Diagnosis("tier-mismatch",
                $"this container did not get the hardware of {context.Expect}",
                "check the Space's hardware setting and restart it on the right hardware, or pass the flavor it really runs on to --expect"));
    }

    /// <summary>"expected 1x A10G 24 GB, found 1x T4 16 GB" for the GPU; other fields are named.</summary>
    private static string Line(Catalogue.TierField f) =>
        f.Field == "gpu" ? $"expected {f.Expected}, found {f.Found}" : $"{f.Field}: expected {f.Expected}, found {f.Found}";
}
