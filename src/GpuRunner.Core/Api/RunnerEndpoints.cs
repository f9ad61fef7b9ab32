using System.Text.Json;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace GpuRunner.Core.Api;

/// <summary>Runner routes (docs/contracts.md): every body has eventId + at; a retry is acknowledged as a duplicate.</summary>
public static class RunnerEndpoints
{
    public sealed record RunBody(string? EventId, DateTimeOffset? At, string? RunId, string? Host);
    public sealed record DeviceBody(string? EventId, DateTimeOffset? At, string? RunId, JsonElement? Report);
    public sealed record StageBody(string? EventId, DateTimeOffset? At, string? RunId, string? Stage, string? Message);
    public sealed record HeartbeatBody(string? EventId, DateTimeOffset? At, string? RunId, JsonElement? Gpus);
    public sealed record ExitBody(string? EventId, DateTimeOffset? At, string? RunId, int? ExitCode, string? Signal, string? StderrTail);

    private const string PrincipalKey = "gpurunner.principal";

    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        var g = app.MapGroup("/api/runner/spaces/{ns}/{name}");
        // Authenticate before reading the body: a caller without a valid token learns nothing about its shape.
        g.AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            http.Items[PrincipalKey] = await Http.RequireAsync(http, http.RequestServices.GetRequiredService<CoreService>());
            return await next(ctx);
        });

        g.MapPost("/runs", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<RunBody>(ctx, o.MaxBodyBytes);
            var (at, run) = Common(b.EventId, b.At, b.RunId);
            return await Send(ctx, core, ns, name, run, b.EventId!, new RunStarted(run, b.Host) { AtMs = at }, at, null, null);
        });
        g.MapPost("/device", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<DeviceBody>(ctx, o.MaxBodyBytes);
            var (at, run) = Common(b.EventId, b.At, b.RunId);
            if (b.Report is not { ValueKind: JsonValueKind.Object } report) throw new ApiException(400, "'report' must be the device report object (gpurunner verify --json)");
            var facts = Facts(report);
            var hasTier = report.TryGetProperty("tier", out var tier) && tier.ValueKind == JsonValueKind.Object;
            if (facts is null && !hasTier)
                throw new ApiException(400, "'report.gpus' (and 'report.host') or 'report.tier' is required: the core compares the hardware with the requested flavor");
            var flavor = hasTier && tier.TryGetProperty("flavor", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            var summary = hasTier && tier.TryGetProperty("summary", out var sm) && sm.ValueKind == JsonValueKind.String ? sm.GetString() : null;
            return await Send(ctx, core, ns, name, run, b.EventId!, new DeviceReported(run, flavor, summary, facts) { AtMs = at }, at, null, report.GetRawText());
        });
        g.MapPost("/stage", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<StageBody>(ctx, o.MaxBodyBytes);
            var (at, run) = Common(b.EventId, b.At, b.RunId);
            if (!Stages.TryParse(b.Stage, out var stage) || stage is not (Stage.AppStarting or Stage.Running or Stage.Stopped or Stage.RuntimeError))
                throw new ApiException(400, $"'stage' must be APP_STARTING, RUNNING, STOPPED or RUNTIME_ERROR, got '{b.Stage}'");
            return await Send(ctx, core, ns, name, run, b.EventId!, new StageReported(run, stage, Trim(b.Message, 2000)) { AtMs = at }, at, null, null);
        });
        g.MapPost("/heartbeat", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<HeartbeatBody>(ctx, o.MaxBodyBytes);
            var (at, run) = Common(b.EventId, b.At, b.RunId);
            if (b.Gpus is { } gpus && gpus.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
                throw new ApiException(400, "'gpus' must be an array");
            return await Send(ctx, core, ns, name, run, b.EventId!, null, at, b.Gpus is { ValueKind: JsonValueKind.Array } a ? a.GetRawText() : null, null);
        });
        g.MapPost("/exit", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<ExitBody>(ctx, o.MaxBodyBytes);
            var (at, run) = Common(b.EventId, b.At, b.RunId);
            if (b.ExitCode is null) throw new ApiException(400, "'exitCode' is required");
            var e = new RunExited(run, b.ExitCode.Value, Trim(b.Signal, 64), Trim(b.StderrTail, 8000)) { AtMs = at };
            return await Send(ctx, core, ns, name, run, b.EventId!, e, at, null, null);
        });
    }

    private static (long At, string RunId) Common(string? eventId, DateTimeOffset? at, string? runId)
    {
        if (string.IsNullOrWhiteSpace(eventId)) throw new ApiException(400, "'eventId' is required (client-made, unique per Space and run)");
        if (at is null) throw new ApiException(400, "'at' is required (RFC 3339 UTC time the event happened)");
        if (string.IsNullOrWhiteSpace(runId)) throw new ApiException(400, "'runId' is required");
        return (at.Value.ToUnixTimeMilliseconds(), runId);
    }

    private static async Task<IResult> Send(HttpContext ctx, CoreService core, string ns, string name, string runId, string eventId,
        SpaceEvent? e, long at, string? payload, string? detail)
    {
        var p = (Principal)ctx.Items[PrincipalKey]!;
        var ack = await core.RunnerEventAsync(p, Http.SpaceId(ns, name), runId, eventId, e, at, payload, detail, ctx.RequestAborted);
        var body = new Dictionary<string, object?> { ["duplicate"] = ack.Duplicate, ["runId"] = ack.RunId };
        if (ack.State is { } s) body["stage"] = s.Stage.ToWire();
        if (ack.Held is null) return TypedResults.Ok(body);
        // Stored but not applied (yet): it does not fit the history as far as it has arrived. 202, so the runner's
        // outbox counts it as delivered; the core applies it if the events it needs arrive within the late window.
        body["held"] = ack.Held;
        return TypedResults.Accepted((string?)null, body);
    }

    /// <summary>
    /// The hardware facts of a device report (docs/contracts.md): every `gpus[]` entry's `name` and `memoryTotalMiB`,
    /// `host.vcpu`, `host.memoryBytes`. The core decides the billed flavor from these with its own catalogue; null
    /// when the report has no `gpus` list (then only the runner's tier name is left to go by).
    /// </summary>
    internal static DeviceFacts? Facts(JsonElement report)
    {
        if (!report.TryGetProperty("gpus", out var gpus) || gpus.ValueKind != JsonValueKind.Array) return null;
        var list = new List<GpuFact>();
        foreach (var g in gpus.EnumerateArray())
        {
            if (g.ValueKind != JsonValueKind.Object) throw new ApiException(400, "'report.gpus' must be a list of objects");
            var name = g.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
            long? mib = g.TryGetProperty("memoryTotalMiB", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt64(out var v) ? v : null;
            list.Add(new GpuFact(Trim(name, 200)!, mib));
        }
        int? vcpu = null;
        long? memory = null;
        if (report.TryGetProperty("host", out var host) && host.ValueKind == JsonValueKind.Object)
        {
            if (host.TryGetProperty("vcpu", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var cpus)) vcpu = cpus;
            if (host.TryGetProperty("memoryBytes", out var mb) && mb.ValueKind == JsonValueKind.Number && mb.TryGetInt64(out var bytes)) memory = bytes;
        }
        return new DeviceFacts(list, vcpu, memory);
    }

    private static string? Trim(string? s, int max) => s is null || s.Length <= max ? s : s[^max..];
}
