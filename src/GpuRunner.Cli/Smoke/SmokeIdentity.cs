using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Host;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Smoke;

/// <summary>Identity against the tier (--expect) and the spec each GPU is judged against, from the catalogue.</summary>
internal sealed class SmokeIdentity(HardwareCatalogue catalogue)
{
    public static SmokeIdentity Load()
    {
        try { return new SmokeIdentity(HardwareCatalogue.Resolve(null)); }
        catch (CatalogueException e) { throw new CommandException(e.Message); }
    }

    /// <summary>A flavor the catalogue does not know is bad usage, said before any test runs.</summary>
    public void Validate(string? expect)
    {
        if (expect is null || catalogue.Find(expect) is not null) return;
        try { new TierMatcher(catalogue).Compare(new MatchFacts(), expect); }
        catch (CatalogueException e) { throw new CommandException(e.Message); }
    }

    public IReadOnlyList<SmokeCheckResult> Check(string? expect, ISmokeBackend backend)
    {
        if (expect is null) return [];
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var gpus = backend.UnavailableReason is null
            ? backend.Devices.Select(d => new DetectedGpu(d.Info.Name, d.Info.TotalBytes >> 20)).ToList()
            : [];
        var match = new TierMatcher(catalogue).Compare(MatchFacts.From(HostProbe.Collect(), gpus), expect);
        var ok = match.Flavor is not null;
        return
        [
            new SmokeCheckResult
            {
                Id = "identity.tier", Title = $"Hardware matches {expect}",
                Status = ok ? SmokeStatus.Pass : SmokeStatus.Fail,
                Evidence = ok ? $"{match.Summary}: {match.Found}" : match.Summary,
                Diagnosis = ok ? null : new SmokeDiagnosis(string.Join("; ", match.Mismatches),
                    backend.UnavailableReason is { } why
                        ? $"no GPU is visible ({why}): start the container with GPU access, or check the Space's hardware setting"
                        : "switch the Space to the hardware you pay for, or correct --expect"),
                Seconds = Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, 3),
            },
        ];
    }

    public SmokeSpec? SpecFor(SmokeGpuInfo gpu) => catalogue.IdentifyGpu(gpu.Name) is { } g
        ? new SmokeSpec(g.DisplayName ?? g.Model, g.BandwidthGBs, g.Bf16TensorTflops, g.Fp16TensorTflops, g.Fp32Tflops, g.PcieGen,
            g.Source is null ? "requirements/gpus.json" : $"requirements/gpus.json: {g.Source}")
        : null;
}
