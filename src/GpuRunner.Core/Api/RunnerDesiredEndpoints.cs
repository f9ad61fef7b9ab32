using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace GpuRunner.Core.Api;

/// <summary>
/// What the core tells a Space's runner (docs/supervision.md): the decision for its run (a long poll), and the events
/// the core holds or gave up on.
/// </summary>
public static class RunnerDesiredEndpoints
{
    /// <summary>Longest wait of one long poll: under the usual 60 s idle timeouts of proxies.</summary>
    public const int MaxWaitSeconds = 55;

    public static void Map(IEndpointRouteBuilder app)
    {
        // GET desired?runId=R&known=running&wait=25: answers at once when the decision is not `known`, else when it
        // changes or `wait` seconds passed. Authenticated here, not by the group's filter: a Space that no longer
        // exists answers "deleted" even when its runner tokens went with it.
        app.MapGet("/api/runner/spaces/{ns}/{name}/desired", async (string ns, string name, string? runId, string? known, string? wait,
            HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            if (string.IsNullOrEmpty(ctx.Request.Headers.Authorization.ToString()))
                throw new ApiException(401, "missing token: send 'Authorization: Bearer <token>'");
            Principal? p;
            try { p = await Http.OptionalAsync(ctx, core); }
            catch (ApiException e) when (e.Status == 401) { p = null; }
            if (runId is { Length: > 200 }) throw new ApiException(400, "'runId' is at most 200 characters");
            DesiredKind? knownKind = null;
            if (!string.IsNullOrEmpty(known))
            {
                if (!Desired.TryParse(known, out var k))
                    throw new ApiException(400, $"'known' must be one of {string.Join(", ", Enum.GetNames<DesiredKind>().Select(n => n.ToLowerInvariant()))}, got '{known}'");
                knownKind = k;
            }
            var seconds = 0;
            if (!string.IsNullOrEmpty(wait) && (!int.TryParse(wait, out seconds) || seconds is < 0 or > MaxWaitSeconds))
                throw new ApiException(400, $"'wait' must be 0..{MaxWaitSeconds} seconds, got '{wait}'");
            var d = await core.DesiredAsync(p, id, string.IsNullOrEmpty(runId) ? null : runId, knownKind, TimeSpan.FromSeconds(seconds), ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?>
            {
                ["desired"] = d.Wire, ["stage"] = d.Stage, ["reason"] = d.Reason, ["flavor"] = d.Flavor,
                ["since"] = d.SinceMs > 0 ? Time.Format(d.SinceMs) : null,
            });
        });

        // GET held: the Space's events the core holds (they do not fit its history yet) and its dead letters (held
        // past the hold bound, never applied), each with why. For the Space's runner, its owner and admins.
        app.MapGet("/api/runner/spaces/{ns}/{name}/held", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var (held, dead) = await core.HeldAsync(p, Http.SpaceId(ns, name), ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?>
            {
                ["holdMinutes"] = core.Machine.Policy.HoldWindow.TotalMinutes,
                ["held"] = held.Select(h => Entry(h.Event, h.Why)).ToArray(),
                ["deadLetters"] = dead.Select(e => Entry(e, e.Detail ?? "")).ToArray(),
            });
        });
    }

    private static Dictionary<string, object?> Entry(Storage.StoredEvent e, string why) => new()
    {
        ["eventId"] = e.EventId, ["source"] = e.Source, ["kind"] = e.Kind.StartsWith("dead:", StringComparison.Ordinal) ? e.Kind[5..] : e.Kind,
        ["at"] = Time.Format(e.AtMs), ["receivedAt"] = Time.Format(e.ReceivedMs), ["reason"] = why,
    };
}
