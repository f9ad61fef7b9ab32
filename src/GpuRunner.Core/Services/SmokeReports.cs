using System.Globalization;
using System.Text.Json;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Services;

/// <summary>One key figure of one GPU in a smoke report, e.g. memory bandwidth 4120 GB/s, 86 % of 4800.</summary>
public sealed record SmokeFigure(string Check, string Label, double? Value, string? Unit, double? Spec, double? PercentOfSpec,
    string Status, long? Errors);

public sealed record SmokeGpuSummary(int Index, string Name, string? Uuid, string Status, IReadOnlyList<SmokeFigure> Figures);

/// <summary>A stored smoke report as the core judged it (<see cref="SmokeReported"/>) with its key figures per GPU.
/// <see cref="Report"/> is the runner's report as received (bounded; samples stay with the runner).</summary>
public sealed record SmokeRecord(string RunId, string EventId, long AtMs, long ReceivedMs, string Flavor, string Level, string Verdict,
    string? Fault, double? Seconds, IReadOnlyList<SmokeGpuSummary> Gpus, string Report);

/// <summary>
/// Reading and judging smoke reports (docs/contracts.md, "Smoke reports"). A report is stored as the detail of its
/// `smoke` state event, so it is deduplicated, ordered and deleted with the Space's history like every other event.
/// </summary>
public static class SmokeReports
{
    public const string Schema = "gpurunner.smoke/1";
    /// <summary>Largest report the core keeps: a quick report of 8 GPUs without its samples is ~20 KB.</summary>
    public const int MaxReportBytes = 48 * 1024;
    public const int MaxGpus = 64;

    /// <summary>The figures the page and the before/after comparison show, in this order.</summary>
    public static readonly (string Check, string Label)[] KeyFigures =
    [
        ("bandwidth.d2d", "Memory bandwidth"), ("compute.gemm", "GEMM"), ("memtest", "Memory tested"), ("pcie.h2d-pinned", "Host to device"),
    ];

    /// <summary>
    /// A fault report lowers the bill only when the core received it before the run was RUNNING: the smoke test runs
    /// before the app starts, so a later one is a claim about time already served, and the core's evidence wins.
    /// </summary>
    public static SpaceEvent AtReceipt(SpaceState s, SpaceEvent e) =>
        e is SmokeReported { Fault: not null } sm && s.RunId == sm.RunId && s.Stage == Stage.Running ? sm with { AfterRunning = true } : e;

    /// <summary>Every smoke report of the Space, oldest first (read through the writer, like the device report).</summary>
    public static async Task<IReadOnlyList<SmokeRecord>> ListAsync(CoreService core, string spaceId, CancellationToken ct)
    {
        var events = await core.Store.WriteAsync(tx => tx.StateEvents(spaceId), ct);
        var list = new List<SmokeRecord>();
        foreach (var e in events.Where(e => e.Kind == "smoke" && e.Detail is not null && e.Payload is not null).OrderBy(e => (e.AtMs, e.Seq)))
        {
            if (CoreJson.ReadEvent(e.Payload!) is not SmokeReported sm) continue;
            try { list.Add(Summarize(sm, e.EventId, e.ReceivedMs, e.Detail!)); }
            catch (Exception x) when (x is JsonException or InvalidOperationException) { } // checked at the door; never a 500 for one odd row

        }
        return list;
    }

    /// <summary>The newest report and the newest one before it on other hardware: the last hardware change.</summary>
    public static (SmokeRecord? Before, SmokeRecord? After) Comparison(IReadOnlyList<SmokeRecord> oldestFirst)
    {
        var after = oldestFirst.Count == 0 ? null : oldestFirst[^1];
        var before = after is null ? null : oldestFirst.LastOrDefault(r => r.Flavor != after.Flavor);
        return (before, after);
    }

    public static SmokeRecord Summarize(SmokeReported sm, string eventId, long receivedMs, string detail)
    {
        using var doc = JsonDocument.Parse(detail);
        var r = doc.RootElement;
        var gpus = new List<SmokeGpuSummary>();
        var checks = r.TryGetProperty("checks", out var cs) && cs.ValueKind == JsonValueKind.Array ? cs.EnumerateArray().ToList() : [];
        if (r.TryGetProperty("gpus", out var gs) && gs.ValueKind == JsonValueKind.Array)
            foreach (var g in gs.EnumerateArray().Where(g => g.ValueKind == JsonValueKind.Object))
            {
                var index = Int(g, "index") ?? gpus.Count;
                var figures = new List<SmokeFigure>();
                foreach (var (check, label) in KeyFigures)
                {
                    var c = checks.FirstOrDefault(c => c.ValueKind == JsonValueKind.Object && Str(c, "id") == check && Int(c, "gpu") == index);
                    if (c.ValueKind != JsonValueKind.Object) continue;
                    figures.Add(new SmokeFigure(check, label, Num(c, "value"), Str(c, "unit"), Num(c, "spec"), Num(c, "percentOfSpec"),
                        Str(c, "status") ?? "SKIP", c.TryGetProperty("errorCount", out var ec) && ec.ValueKind == JsonValueKind.Number && ec.TryGetInt64(out var n) ? n : null));
                }
                gpus.Add(new SmokeGpuSummary(index, Str(g, "name") ?? "", Str(g, "uuid"), Str(g, "status") ?? "SKIP", figures));
            }
        return new SmokeRecord(sm.RunId, eventId, sm.AtMs, receivedMs, sm.Flavor, Str(r, "level") ?? "quick", sm.Verdict, sm.Fault,
            Num(r, "seconds"), gpus, detail);
    }

    /// <summary>"4120 GB/s" / "35.2 GiB, 0 errors" / "—".</summary>
    public static string Format(SmokeFigure? f)
    {
        if (f is null || f.Value is null) return f?.Status == "SKIP" ? "skipped" : "—";
        var v = f.Value.Value.ToString(f.Value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + f.Unit;
        return f.Errors is { } e ? $"{v}, {e.ToString(CultureInfo.InvariantCulture)} errors" : v;
    }

    private static string? Str(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static double? Num(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    private static int? Int(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
}
