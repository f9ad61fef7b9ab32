using System.Text.Json;
using GpuRunner.Core.Metrics;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
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
    public sealed record GpuEventBody(string? EventId, DateTimeOffset? At, string? RunId, int? Gpu, string? Kind, int? Code,
        string? Class, bool? Fatal, string? Message);
    public sealed record ExitBody(string? EventId, DateTimeOffset? At, string? RunId, int? ExitCode, string? Signal, string? StderrTail);

    internal const string PrincipalKey = "gpurunner.principal";

    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        RunnerDesiredEndpoints.Map(app);
        var g = app.MapGroup("/api/runner/spaces/{ns}/{name}");
        // Authenticate before reading the body: a caller without a valid token learns nothing about its shape.
        g.AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            http.Items[PrincipalKey] = await Http.RequireAsync(http, http.RequestServices.GetRequiredService<CoreService>());
            return await next(ctx);
        });

        g.MapPost("/runs", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<RunBody>(ctx, o.MaxBodyBytes))));
        g.MapPost("/device", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<DeviceBody>(ctx, o.MaxBodyBytes))));
        g.MapPost("/stage", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<StageBody>(ctx, o.MaxBodyBytes))));
        g.MapPost("/heartbeat", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<HeartbeatBody>(ctx, o.MaxBodyBytes))));
        g.MapPost("/gpu-event", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<GpuEventBody>(ctx, o.MaxBodyBytes))));
        g.MapPost("/exit", async (string ns, string name, HttpContext ctx, CoreService core) =>
            await Send(ctx, core, ns, name, Parse(await Http.BodyAsync<ExitBody>(ctx, o.MaxBodyBytes))));
        SmokeReportEndpoints.MapRunner(g, o); // POST smoke, GET smoke/baseline

        // Several events in one request: {"events": [{"route": "heartbeat", "body": {...the route's body...}}, ...]}.
        // Each is answered on its own, in order, with the status and body its own route would have given; the
        // request itself is 200 unless it is malformed as a whole (auth, JSON, not a list, too many).
        g.MapPost("/batch", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var b = await Http.BodyAsync<BatchBody>(ctx, o.MaxBodyBytes);
            if (b.Events is not { ValueKind: JsonValueKind.Array } events)
                throw new ApiException(400, "'events' must be a list of {\"route\": ..., \"body\": {...}}");
            if (events.GetArrayLength() > MaxBatch) throw new ApiException(400, $"at most {MaxBatch} events per batch, got {events.GetArrayLength()}");
            var id = Http.SpaceId(ns, name);
            var results = new Dictionary<string, object?>[events.GetArrayLength()];
            var inputs = new List<RunnerInput>(results.Length);
            var slots = new List<int>(results.Length);
            var i = 0;
            foreach (var item in events.EnumerateArray())
            {
                try { inputs.Add(ParseItem(item)); slots.Add(i); }
                catch (Exception x) when (x is ApiException or LifecycleException or JsonException) { results[i] = Refusal(x); }
                i++;
            }
            var outcomes = await core.RunnerEventsAsync((Principal)ctx.Items[PrincipalKey]!, id, inputs, ctx.RequestAborted);
            for (var k = 0; k < outcomes.Count; k++)
            {
                results[slots[k]] = outcomes[k].Ack is { } ack ? AckBody(ack) : Refusal(outcomes[k].Refused!);
                if (outcomes[k].Ack is { } a) GpuTelemetry.Of(ctx).Observe(id, inputs[k], a);
            }
            return TypedResults.Ok(new Dictionary<string, object?> { ["results"] = results });
        });
    }

    public sealed record BatchBody(JsonElement? Events);

    /// <summary>Events per batch request; with the 256 KB body limit, heartbeats of a few GPUs fit ~1000.</summary>
    public const int MaxBatch = 1000;

    private static RunnerInput ParseItem(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("route", out var r) || r.ValueKind != JsonValueKind.String
            || !item.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.Object)
            throw new ApiException(400, "each batch entry must be {\"route\": \"heartbeat|stage|device|exit|runs|smoke\", \"body\": {...}}");
        return r.GetString() switch
        {
            "runs" => Parse(body.Deserialize(CoreJson.Info<RunBody>())!),
            "device" => Parse(body.Deserialize(CoreJson.Info<DeviceBody>())!),
            "stage" => Parse(body.Deserialize(CoreJson.Info<StageBody>())!),
            "heartbeat" => Parse(body.Deserialize(CoreJson.Info<HeartbeatBody>())!),
            "exit" => Parse(body.Deserialize(CoreJson.Info<ExitBody>())!),
            "smoke" => SmokeReportEndpoints.Parse(body.Deserialize(CoreJson.Info<SmokeReportEndpoints.SmokeBody>())!),
            "gpu-event" => Parse(body.Deserialize(CoreJson.Info<GpuEventBody>())!),
            var other => throw new ApiException(400, $"unknown route '{other}' in a batch (heartbeat, stage, device, exit, runs, smoke, gpu-event)"),
        };
    }

    private static RunnerInput Parse(RunBody b)
    {
        RunnerValidation.Check(b);
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        return new RunnerInput(run, b.EventId!, new RunStarted(run, b.Host) { AtMs = at }, at, null, null);
    }

    private static RunnerInput Parse(DeviceBody b)
    {
        RunnerValidation.Check(b);
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        if (b.Report is not { ValueKind: JsonValueKind.Object } report) throw new ApiException(400, "'report' must be the device report object (gpurunner verify --json)");
        var facts = Facts(report);
        var hasTier = report.TryGetProperty("tier", out var tier) && tier.ValueKind == JsonValueKind.Object;
        if (facts is null && !hasTier)
            throw new ApiException(400, "'report.gpus' (and 'report.host') or 'report.tier' is required: the core compares the hardware with the requested flavor");
        var flavor = hasTier && tier.TryGetProperty("flavor", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        var summary = hasTier && tier.TryGetProperty("summary", out var sm) && sm.ValueKind == JsonValueKind.String ? sm.GetString() : null;
        return new RunnerInput(run, b.EventId!, new DeviceReported(run, flavor, summary, facts) { AtMs = at }, at, null, report.GetRawText());
    }

    private static RunnerInput Parse(StageBody b)
    {
        RunnerValidation.Check(b);
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        if (!Stages.TryParse(b.Stage, out var stage) || stage is not (Stage.AppStarting or Stage.Running or Stage.Stopped or Stage.RuntimeError))
            throw new ApiException(400, $"'stage' must be APP_STARTING, RUNNING, STOPPED or RUNTIME_ERROR, got '{b.Stage}'");
        return new RunnerInput(run, b.EventId!, new StageReported(run, stage, Trim(b.Message, 2000)) { AtMs = at }, at, null, null);
    }

    private static RunnerInput Parse(HeartbeatBody b)
    {
        RunnerValidation.Check(b);
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        if (b.Gpus is { } gpus && gpus.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            throw new ApiException(400, "'gpus' must be an array");
        if (b.Gpus is { ValueKind: JsonValueKind.Array } checkedGpus) GpuEvents.CheckHeartbeat(checkedGpus);
        return new RunnerInput(run, b.EventId!, null, at, b.Gpus is { ValueKind: JsonValueKind.Array } a ? a.GetRawText() : null, null);
    }

    private static RunnerInput Parse(GpuEventBody b)
    {
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        return new RunnerInput(run, b.EventId!, new GpuReported(run, GpuEvents.Validate(b, at)) { AtMs = at }, at, null, null);
    }

    private static RunnerInput Parse(ExitBody b)
    {
        RunnerValidation.Check(b);
        var (at, run) = Common(b.EventId, b.At, b.RunId);
        if (b.ExitCode is null) throw new ApiException(400, "'exitCode' is required");
        return new RunnerInput(run, b.EventId!, new RunExited(run, b.ExitCode.Value, Trim(b.Signal, 64), Trim(b.StderrTail, 8000)) { AtMs = at }, at, null, null);
    }

    internal static (long At, string RunId) Common(string? eventId, DateTimeOffset? at, string? runId)
    {
        if (string.IsNullOrWhiteSpace(eventId)) throw new ApiException(400, "'eventId' is required (client-made, unique per Space and run)");
        if (at is null) throw new ApiException(400, "'at' is required (RFC 3339 UTC time the event happened)");
        if (string.IsNullOrWhiteSpace(runId)) throw new ApiException(400, "'runId' is required");
        return (at.Value.ToUnixTimeMilliseconds(), runId);
    }

    internal static async Task<IResult> Send(HttpContext ctx, CoreService core, string ns, string name, RunnerInput input)
    {
        var p = (Principal)ctx.Items[PrincipalKey]!;
        var ack = await core.RunnerEventAsync(p, Http.SpaceId(ns, name), input, ctx.RequestAborted);
        GpuTelemetry.Of(ctx).Observe(Http.SpaceId(ns, name), input, ack);
        var body = AckBody(ack);
        body.Remove("status");
        if (ack.Held is null) return TypedResults.Ok(body);
        // Stored but not applied (yet): it does not fit the history as far as it has arrived. 202: delivered (the runner
        // does not resend it) but held, which the runner reports as such; the core applies it if the events it needs
        // arrive within the hold bound, else moves it to the Space's dead letters (GET held).
        return TypedResults.Accepted((string?)null, body);
    }

    /// <summary>An acknowledgement as JSON: {duplicate, runId, stage?, held?}, with the status it answers (batch entries).</summary>
    private static Dictionary<string, object?> AckBody(Ack ack)
    {
        var body = new Dictionary<string, object?> { ["status"] = ack.Held is null ? 200 : 202, ["duplicate"] = ack.Duplicate, ["runId"] = ack.RunId };
        if (ack.State is { } s) body["stage"] = s.Stage.ToWire();
        if (ack.Held is not null) body["held"] = ack.Held;
        return body;
    }

    /// <summary>A refused batch entry: the status, `error` and `code` its own route would have answered.</summary>
    private static Dictionary<string, object?> Refusal(Exception x)
    {
        var (status, message, code) = ApiErrors.Describe(x);
        return new Dictionary<string, object?> { ["status"] = status, ["error"] = message, ["code"] = code };
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
