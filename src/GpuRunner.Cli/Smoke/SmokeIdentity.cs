using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Smoke;

/// <summary>Identity against the tier (--expect) and the spec each GPU is judged against, from the catalogue.</summary>
internal static class SmokeIdentity
{
    public static IReadOnlyList<SmokeCheckResult> Check(string? expect, ISmokeBackend backend) =>
        expect is null ? [] :
        [
            new SmokeCheckResult
            {
                Id = "identity.tier", Title = $"Hardware matches {expect}", Status = SmokeStatus.Skip,
                Evidence = "the hardware catalogue is not built into this version",
            },
        ];

    public static SmokeSpec? SpecFor(SmokeGpuInfo gpu) => null;
}
