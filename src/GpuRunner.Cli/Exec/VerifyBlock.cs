using System.Globalization;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// What `exec` prints of verify before the app's first line: on a healthy host one summary line (verdict, device,
/// tier, counts), so the app's own output starts near the top of the log; the whole block (host, every check,
/// causes and fixes) when something WARNed or FAILed, or with --verbose.
/// </summary>
public static class VerifyBlock
{
    public static IReadOnlyList<string> For(DeviceReport report, IReadOnlyList<CheckResult> results, IReadOnlyList<string> fullBlock) =>
        report.Verdict == "PASS" ? [Summary(report, results)] : fullBlock;

    /// <summary>"verify PASS · 1x NVIDIA A10G 23028 MiB · tier a10g-small · 7 passed, 0 warned, 0 failed, 1 skipped (0.41 s)".</summary>
    public static string Summary(DeviceReport report, IReadOnlyList<CheckResult> results)
    {
        var device = report.Gpus.Count > 0
            ? string.Join(", ", report.Gpus.GroupBy(g => (g.Name, g.MemoryTotalMiB)).Select(g => $"{g.Count()}x {g.Key.Name ?? "GPU"} {g.Key.MemoryTotalMiB?.ToString(CultureInfo.InvariantCulture) ?? "n/a"} MiB"))
            : report.Driver.Loaded ? "no GPU visible" : "no GPU (CPU-only host)";
        var tier = report.Tier is { } t ? t.Flavor is { } f ? $"tier {f}" : "no tier matches" : "tier unknown";
        int Count(CheckStatus s) => results.Count(r => r.Status == s);
        var seconds = results.Sum(r => r.Seconds).ToString("0.00", CultureInfo.InvariantCulture);
        return $"verify {report.Verdict} · {device} · {tier} · {Count(CheckStatus.Pass)} passed, {Count(CheckStatus.Warn)} warned, " +
            $"{Count(CheckStatus.Fail)} failed, {Count(CheckStatus.Skip)} skipped ({seconds} s; --verbose shows every check)";
    }
}
