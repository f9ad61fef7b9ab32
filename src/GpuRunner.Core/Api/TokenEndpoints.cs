using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace GpuRunner.Core.Api;

/// <summary>
/// Runner tokens of a Space (owner only), and a user's own named tokens: issue (the secret is in this answer only),
/// list by id and prefix, revoke. A revoked token is refused (401) from the next request on.
/// </summary>
public static class TokenEndpoints
{
    public sealed record UserTokenBody(string? Name);

    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        var mine = app.MapGroup("/api/user/tokens");
        mine.MapPost("", async (HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<UserTokenBody>(ctx, o.MaxBodyBytes);
            if (string.IsNullOrWhiteSpace(b.Name)) throw new ApiException(400, "'name' is required, e.g. {\"name\": \"laptop\"}");
            var (token, row) = await core.IssueUserTokenAsync(p, b.Name, ctx.RequestAborted);
            var body = View(p.Name, row);
            body["token"] = token;
            return TypedResults.Ok(body);
        });
        mine.MapGet("", async (HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            return TypedResults.Ok((await core.ListUserTokensAsync(p, ctx.RequestAborted)).Select(r => View(p.Name, r)).ToArray());
        });
        mine.MapDelete("/{tokenId}", async (string tokenId, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var body = View(p.Name, await core.RevokeUserTokenAsync(p, tokenId, ctx.RequestAborted));
            body["revoked"] = true;
            return TypedResults.Ok(body);
        });

        var tokens = app.MapGroup("/api/spaces/{ns}/{name}/tokens");
        tokens.MapPost("", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            var token = await core.IssueRunnerTokenAsync(await Http.RequireAsync(ctx, core), id, ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?>
            {
                ["token"] = token, ["kind"] = "runner", ["space"] = id, ["id"] = Tokens.Id(Tokens.Hash(token)), ["prefix"] = Tokens.Prefix(token),
            });
        });
        tokens.MapGet("", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            var rows = await core.ListRunnerTokensAsync(await Http.RequireAsync(ctx, core), id, ctx.RequestAborted);
            return TypedResults.Ok(rows.Select(r => View(id, r)).ToArray());
        });
        tokens.MapDelete("/{tokenId}", async (string ns, string name, string tokenId, HttpContext ctx, CoreService core) =>
        {
            var id = Http.SpaceId(ns, name);
            var row = await core.RevokeRunnerTokenAsync(await Http.RequireAsync(ctx, core), id, tokenId, ctx.RequestAborted);
            var body = View(id, row);
            body["revoked"] = true;
            return TypedResults.Ok(body);
        });
    }

    public static Dictionary<string, object?> View(string user, UserTokenRow r) => new()
    {
        ["id"] = Tokens.Id(r.Hash), ["name"] = r.Name, ["prefix"] = r.Prefix, ["kind"] = "user", ["user"] = user, ["created"] = Time.Format(r.CreatedMs),
    };

    /// <summary>What is shown of a stored token: never the secret (the core does not have it), nor its hash.</summary>
    public static Dictionary<string, object?> View(string space, RunnerTokenRow r) => new()
    {
        ["id"] = Tokens.Id(r.Hash), ["prefix"] = r.Prefix, ["kind"] = "runner", ["space"] = space, ["createdBy"] = r.CreatedBy,
        ["created"] = Time.Format(r.CreatedMs),
    };
}
