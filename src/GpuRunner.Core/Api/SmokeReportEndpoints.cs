using System.Text.Json;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace GpuRunner.Core.Api;

/// <summary>
/// Smoke reports (docs/contracts.md, "Smoke reports"): the runner's POST smoke (also a batch route) and its
/// question "which hardware was proven last" (GET smoke/baseline); the owner's GET and POST /api/spaces/{ns}/{name}/smoke.
/// The core judges each report itself: a FAIL verdict is a platform hardware fault of that run, which is not billed.
/// </summary>
public static class SmokeReportEndpoints
{
    public sealed record SmokeBody(string? EventId, DateTimeOffset? At, string? RunId, JsonElement? Report);
    public sealed record SmokeSettingsBody(string? UpgradeLevel);

    /// <summary>Reports the GET route returns at most (newest first).</summary>
    public const int MaxListed = 50;

    /// <summary>Runner routes, on the runner group (its token filter already ran).</summary>
    internal static void MapRunner(RouteGroupBuilder g, CoreOptions o)
    {
        g.MapPost("/smoke", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await RunnerEndpoints.Send(ctx, core, ns, name, Parse(await Http.BodyAsync<SmokeBody>(ctx, o.MaxBodyBytes))));
        g.MapGet("/smoke/baseline", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var s = await core.GetAsync((Principal)ctx.Items[RunnerEndpoints.PrincipalKey]!, Http.SpaceId(ns, name), ctx.RequestAborted);
            return TypedResults.Ok(Baseline(s));
        });
    }

    /// <summary>The owner's routes: the reports as JSON, and the smoke level on a hardware change.</summary>
    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        var g = app.MapGroup("/api/spaces/{ns}/{name}/smoke");
        g.MapGet("", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var s = await core.GetAsync(await Http.RequireAsync(ctx, core), Http.SpaceId(ns, name), ctx.RequestAborted);
            return TypedResults.Ok(await ViewAsync(core, s, ctx.RequestAborted));
        });
        g.MapPost("", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<SmokeSettingsBody>(ctx, o.MaxBodyBytes);
            if (b.UpgradeLevel is null) throw new ApiException(400, "'upgradeLevel' is required: quick or standard");
            var s = await core.OwnerActionAsync(p, Http.SpaceId(ns, name), "set its smoke level", new SmokeLevelSet(b.UpgradeLevel), ctx.RequestAborted);
            return TypedResults.Ok(Baseline(s));
        });
    }

    /// <summary>What a starting runner needs to decide whether to smoke: the flavor asked for, the hardware last proven.</summary>
    public static Dictionary<string, object?> Baseline(SpaceState s) => new()
    {
        ["space"] = s.Id,
        ["requestedFlavor"] = s.RequestedFlavor,
        ["upgradeLevel"] = s.SmokeOnUpgrade ?? "quick",
        ["verified"] = s.Verified is { } v
            ? new Dictionary<string, object?> { ["flavor"] = v.Flavor, ["gpuUuids"] = v.GpuUuids.ToArray(), ["runId"] = v.RunId, ["at"] = Time.Format(v.AtMs) }
            : null,
    };

    /// <summary>A runner's smoke report: validated, bounded, and judged by the core (flavor, verdict, GPUs, fault).</summary>
    internal static RunnerInput Parse(SmokeBody b)
    {
        var (at, run) = RunnerEndpoints.Common(b.EventId, b.At, b.RunId);
        if (b.Report is not { ValueKind: JsonValueKind.Object } report)
            throw new ApiException(400, "'report' must be the smoke report object (gpurunner smoke --json, without its samples)");
        var raw = report.GetRawText();
        if (raw.Length > SmokeReports.MaxReportBytes)
            throw new ApiException(413, $"'report' is {raw.Length} bytes; the core keeps at most {SmokeReports.MaxReportBytes} (send it without the samples)");
        if (Str(report, "schema") != SmokeReports.Schema)
            throw new ApiException(400, $"'report.schema' must be '{SmokeReports.Schema}'");
        var flavor = Str(report, "expect");
        if (string.IsNullOrWhiteSpace(flavor) || flavor.Length > 64)
            throw new ApiException(400, "'report.expect' must name the flavor the hardware was tested against");
        var verdict = Str(report, "verdict");
        if (verdict is not ("PASS" or "WARN" or "FAIL" or "SKIP"))
            throw new ApiException(400, $"'report.verdict' must be PASS, WARN, FAIL or SKIP, got '{verdict}'");
        if (!report.TryGetProperty("gpus", out var gpus) || gpus.ValueKind != JsonValueKind.Array || gpus.GetArrayLength() > SmokeReports.MaxGpus)
            throw new ApiException(400, $"'report.gpus' must be a list of at most {SmokeReports.MaxGpus} GPUs");
        if (!report.TryGetProperty("checks", out var checks) || checks.ValueKind != JsonValueKind.Array)
            throw new ApiException(400, "'report.checks' must be a list");
        var uuids = new List<string>();
        foreach (var g in gpus.EnumerateArray())
        {
            if (g.ValueKind != JsonValueKind.Object) throw new ApiException(400, "'report.gpus' must be a list of objects");
            if (Str(g, "uuid") is { Length: > 0 and <= 100 } u) uuids.Add(u);
        }
        return new RunnerInput(run, b.EventId!, new SmokeReported(run, flavor, verdict, uuids, Fault(verdict, checks)) { AtMs = at }, at, null, raw);
    }

    /// <summary>The core's own reading of a failed report: which checks failed, on which GPU, with their evidence.</summary>
    private static string? Fault(string verdict, JsonElement checks)
    {
        if (verdict != "FAIL") return null;
        var failed = checks.EnumerateArray()
            .Where(c => c.ValueKind == JsonValueKind.Object && Str(c, "status") == "FAIL")
            .Select(c => (c.TryGetProperty("gpu", out var g) && g.ValueKind == JsonValueKind.Number ? $"GPU {g.GetRawText()} " : "")
                         + Str(c, "id") + (Str(c, "evidence") is { Length: > 0 } ev ? ": " + ev : ""))
            .ToList();
        var text = failed.Count == 0 ? "the smoke verdict is FAIL" : string.Join("; ", failed);
        return text.Length <= 600 ? text : text[..597] + "...";
    }

    /// <summary>GET /api/spaces/{ns}/{name}/smoke: the baseline, the current fault, the before/after pair, the reports.</summary>
    public static async Task<Dictionary<string, object?>> ViewAsync(CoreService core, SpaceState s, CancellationToken ct)
    {
        var all = await SmokeReports.ListAsync(core, s.Id, ct);
        var (before, after) = SmokeReports.Comparison(all);
        var view = Baseline(s);
        view["hardwareFault"] = s.HardwareFault is { } f && f.RunId == s.RunId
            ? new Dictionary<string, object?> { ["runId"] = f.RunId, ["flavor"] = f.Flavor, ["summary"] = f.Summary, ["at"] = Time.Format(f.AtMs), ["billed"] = f.Billed }
            : null;
        view["comparison"] = new Dictionary<string, object?>
        {
            ["before"] = before is null ? null : Record(core, before, false),
            ["after"] = after is null ? null : Record(core, after, false),
        };
        view["reports"] = all.Reverse().Take(MaxListed).Select(r => Record(core, r, true)).ToArray();
        return view;
    }

    private static Dictionary<string, object?> Record(CoreService core, SmokeRecord r, bool withReport)
    {
        var price = core.Machine.Catalogue.Find(r.Flavor)?.HourlyMicroUsd;
        var d = new Dictionary<string, object?>
        {
            ["runId"] = r.RunId, ["eventId"] = r.EventId, ["at"] = Time.Format(r.AtMs), ["receivedAt"] = Time.Format(r.ReceivedMs),
            ["flavor"] = r.Flavor, ["hourlyMicroUsd"] = price, ["level"] = r.Level, ["verdict"] = r.Verdict, ["fault"] = r.Fault,
            ["seconds"] = r.Seconds,
            ["gpus"] = r.Gpus.Select(g => new Dictionary<string, object?>
            {
                ["index"] = g.Index, ["name"] = g.Name, ["uuid"] = g.Uuid, ["status"] = g.Status,
                ["figures"] = g.Figures.Select(f => new Dictionary<string, object?>
                {
                    ["check"] = f.Check, ["label"] = f.Label, ["value"] = f.Value, ["unit"] = f.Unit, ["spec"] = f.Spec,
                    ["percentOfSpec"] = f.PercentOfSpec, ["status"] = f.Status, ["errors"] = f.Errors,
                }).ToArray(),
            }).ToArray(),
        };
        if (withReport)
        {
            using var doc = JsonDocument.Parse(r.Report);
            d["report"] = doc.RootElement.Clone();
        }
        return d;
    }

    private static string? Str(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
