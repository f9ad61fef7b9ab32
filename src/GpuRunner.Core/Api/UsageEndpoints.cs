using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace GpuRunner.Core.Api;

/// <summary>Usage, invoices (JSON or CSV), the raw ledger and grants.</summary>
public static class UsageEndpoints
{
    public sealed record GrantBody(string? Flavor, DateTimeOffset? From, DateTimeOffset? To, string? Note);

    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        var usage = app.MapGroup("/api/usage");
        usage.MapGet("/spaces/{ns}/{name}/current", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var (s, inv) = await core.CurrentRunAsync(await Http.RequireAsync(ctx, core), Http.SpaceId(ns, name), ctx.RequestAborted);
            var body = Views.Invoice(inv);
            body["runId"] = s.RunId;
            body["stage"] = s.Stage.ToWire();
            body["billing"] = s.Open is not null;
            return TypedResults.Ok(body);
        });
        usage.MapGet("/spaces/{ns}/{name}", async (string ns, string name, string? format, HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            await core.GetAsync(await Http.RequireAsync(ctx, core), id, ctx.RequestAborted);
            var (from, to) = Http.Period(ctx.Request, core.NowMs);
            return Render(await core.InvoiceAsync($"space {id}", from, to, id, null, ctx.RequestAborted), format, $"{ns}_{name}");
        });
        usage.MapGet("/owners/{owner}", async (string owner, string? format, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            if (!(p.Kind == PrincipalKind.User && (p.Name == owner || p.IsAdmin)))
                throw new LifecycleException(LifecycleErrorKind.Forbidden, $"only '{owner}' (or an admin) can read the invoices of '{owner}'");
            var (from, to) = Http.Period(ctx.Request, core.NowMs);
            return Render(await core.InvoiceAsync($"owner {owner}", from, to, null, owner, ctx.RequestAborted), format, owner);
        });
        usage.MapGet("/spaces/{ns}/{name}/ledger", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            await core.GetAsync(await Http.RequireAsync(ctx, core), id, ctx.RequestAborted);
            var (from, to) = Http.Period(ctx.Request, core.NowMs);
            var rows = await core.Store.LedgerAsync(from, to, id, null, ctx.RequestAborted);
            return TypedResults.Ok(rows.Select(r => new Dictionary<string, object?>
            {
                ["id"] = r.Id, ["space"] = r.Interval.SpaceId, ["requestedFlavor"] = r.Interval.RequestedFlavor,
                ["billedFlavor"] = r.Interval.BilledFlavor, ["hourlyMicroUSD"] = r.Interval.HourlyMicroUsd,
                ["start"] = Time.Format(r.Interval.StartMs), ["end"] = Time.Format(r.Interval.EndMs),
                ["seconds"] = r.Interval.Ms / 1000.0m, ["sign"] = r.Sign, ["reason"] = r.Reason, ["recorded"] = Time.Format(r.RecordedMs),
            }).ToArray());
        });

        var spaces = app.MapGroup("/api/spaces/{ns}/{name}");
        spaces.MapPost("/grants", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<GrantBody>(ctx, o.MaxBodyBytes);
            if (b.Flavor is null || b.From is null || b.To is null) throw new ApiException(400, "'flavor', 'from' and 'to' are required");
            var g = new Grant(Http.SpaceId(ns, name), b.Flavor, b.From.Value.ToUnixTimeMilliseconds(), b.To.Value.ToUnixTimeMilliseconds(), b.Note);
            await core.AddGrantAsync(p, g, ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?> { ["space"] = g.SpaceId, ["flavor"] = g.Flavor, ["from"] = Time.Format(g.FromMs), ["to"] = Time.Format(g.ToMs) });
        });
    }

    private static IResult Render(Invoice inv, string? format, string name) => format switch
    {
        null or "" or "json" => TypedResults.Ok(Views.Invoice(inv)),
        "csv" => TypedResults.Text(Views.InvoiceCsv(inv), "text/csv; charset=utf-8"),
        _ => throw new ApiException(400, $"format must be json or csv, got '{format}'"),
    };
}
