using System.Globalization;
using System.Text;

namespace GpuRunner.Diagnostics.Smoke;

/// <summary>The report's verdict and the one greppable line that closes every output style.</summary>
public static class SmokeVerdict
{
    public const string Prefix = "SMOKE VERDICT:";

    /// <summary>Worst status among the checks that ran; SKIP when nothing ran (no GPU), never PASS by default.</summary>
    public static SmokeStatus Worst(IEnumerable<SmokeCheckResult> checks)
    {
        var worst = SmokeStatus.Skip;
        foreach (var c in checks)
            if (c.Status > worst) worst = c.Status;
        return worst;
    }

    public static string Word(SmokeStatus s) => s switch
    {
        SmokeStatus.Pass => "PASS", SmokeStatus.Warn => "WARN", SmokeStatus.Fail => "FAIL", _ => "SKIP",
    };

    /// <summary>
    /// e.g. <c>SMOKE VERDICT: PASS 1x NVIDIA H200 143771 MiB | level standard | d2d 4276 GB/s 89% | h2d 53.1 GB/s |
    /// gemm 785 TFLOP/s 79% | memtest 0 errors 133 GiB 95% | 20 pass 0 warn 0 fail 1 skip | 41.2 s</c>.
    /// Key figures are the lowest over the GPUs (the weakest card decides).
    /// </summary>
    public static string Line(SmokeReport r, string? unavailableReason = null)
    {
        var sb = new StringBuilder(Prefix).Append(' ').Append(Word(r.Verdict));
        if (r.Interrupted) sb.Append(" (interrupted)");
        if (r.Gpus.Count == 0)
            sb.Append(" no GPU tested").Append(unavailableReason is null ? "" : $": {unavailableReason}");
        else
            foreach (var g in r.Gpus.GroupBy(g => g.Name))
                sb.Append(' ').Append(g.Count()).Append("x ").Append(g.Key).Append(' ')
                  .Append(g.First().MemoryTotalBytes / (1024 * 1024)).Append(" MiB");
        sb.Append(" | level ").Append(r.Level.ToString().ToLowerInvariant());
        if (r.Expect is not null) sb.Append(" | expect ").Append(r.Expect);
        Figure(sb, r, "bandwidth.d2d", "d2d");
        Figure(sb, r, "pcie.h2d-pinned", "h2d");
        Figure(sb, r, "compute.gemm", "gemm");
        var mem = r.Checks.Where(c => c.Id == "memtest" && c.Status != SmokeStatus.Skip).ToList();
        if (mem.Count > 0)
        {
            var errors = mem.Sum(c => c.ErrorCount ?? 0);
            var gib = mem.Min(c => c.Value ?? 0);
            var pct = mem.Min(c => c.PercentOfSpec ?? 0);
            sb.Append(CultureInfo.InvariantCulture, $" | memtest {errors} errors {SmokeFormat.Number(gib)} GiB {pct:0}%");
        }
        int Count(SmokeStatus s) => r.Checks.Count(c => c.Status == s);
        sb.Append(CultureInfo.InvariantCulture,
            $" | {Count(SmokeStatus.Pass)} pass {Count(SmokeStatus.Warn)} warn {Count(SmokeStatus.Fail)} fail {Count(SmokeStatus.Skip)} skip");
        var failed = r.Checks.Where(c => c.Status == SmokeStatus.Fail).Select(c => c.Gpu is { } g ? $"{c.Id}@gpu{g}" : c.Id).ToList();
        if (failed.Count > 0) sb.Append(" | failed: ").Append(string.Join(',', failed));
        sb.Append(CultureInfo.InvariantCulture, $" | {r.Seconds:0.0} s");
        return sb.ToString();
    }

    private static void Figure(StringBuilder sb, SmokeReport r, string id, string label)
    {
        var ran = r.Checks.Where(c => c.Id == id && c.Value is not null && c.Status != SmokeStatus.Skip).ToList();
        if (ran.Count == 0) return;
        var weakest = ran.MinBy(c => c.Value!.Value)!;
        sb.Append(" | ").Append(label).Append(' ').Append(SmokeFormat.Number(weakest.Value!.Value)).Append(' ').Append(weakest.Unit);
        if (weakest.PercentOfSpec is { } p) sb.Append(CultureInfo.InvariantCulture, $" {p:0}%");
    }
}
