using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace GpuRunner.Core.Api;

/// <summary>The Hub client's Space-management routes (api-shapes.md), so an unmodified huggingface_hub works.</summary>
public static class HubEndpoints
{
    public sealed record CreateRepoBody(string? Name, string? Organization, string? Type, string? Sdk, string? Hardware,
        long? SleepTimeSeconds);
    public sealed record DeleteRepoBody(string? Name, string? Organization, string? Type);
    public sealed record HardwareBody(string? Flavor, long? SleepTimeSeconds);
    public sealed record SleepBody(long? Seconds);

    public static void Map(IEndpointRouteBuilder app, CoreOptions o)
    {
        app.MapGet("/api/spaces/hardware", (CoreService core) =>
            TypedResults.Ok(core.Machine.Catalogue.Flavors.Select(Views.Hardware).ToArray()));

        app.MapGet("/api/whoami-v2", async (HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            return TypedResults.Ok(new Dictionary<string, object?>
            {
                ["type"] = p.Kind == PrincipalKind.User ? "user" : "runner", ["name"] = p.Name, ["space"] = p.SpaceId, ["isAdmin"] = p.IsAdmin,
                // The JS Hub client (@huggingface/hub whoAmI) reads auth.accessToken?.createdAt: `auth` must be there.
                ["auth"] = new Dictionary<string, object?> { ["type"] = "access_token" },
            });
        });

        var repos = app.MapGroup("/api/repos");
        repos.MapPost("/create", async Task<Results<Ok<Dictionary<string, object?>>, Conflict>> (HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<CreateRepoBody>(ctx, o.MaxBodyBytes);
            if (b.Type != "space") throw new ApiException(400, $"only repositories of type 'space' are hosted here, got '{b.Type ?? "model"}'");
            if (string.IsNullOrWhiteSpace(b.Name)) throw new ApiException(400, "'name' is required");
            var ns = string.IsNullOrEmpty(b.Organization) ? p.Name : b.Organization;
            var id = Http.SpaceId(ns, b.Name);
            var s = await core.CreateAsync(p, ns, b.Name, b.Sdk, b.Hardware, b.SleepTimeSeconds, ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?>
            {
                ["url"] = $"{BaseUrl(ctx, o)}/spaces/{id}", ["name"] = id, ["id"] = s.Uid,
            });
        });
        repos.MapDelete("/delete", async (HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<DeleteRepoBody>(ctx, o.MaxBodyBytes);
            if (b.Type != "space") throw new ApiException(400, $"only repositories of type 'space' are hosted here, got '{b.Type ?? "model"}'");
            if (string.IsNullOrWhiteSpace(b.Name)) throw new ApiException(400, "'name' is required");
            await core.DeleteAsync(p, Http.SpaceId(string.IsNullOrEmpty(b.Organization) ? p.Name : b.Organization, b.Name), ctx.RequestAborted);
            return TypedResults.Ok();
        });

        var spaces = app.MapGroup("/api/spaces/{ns}/{name}");
        spaces.MapGet("/runtime", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var s = await core.GetAsync(await Http.RequireAsync(ctx, core), Http.SpaceId(ns, name), ctx.RequestAborted);
            return TypedResults.Ok(Views.Runtime(s, core.Machine, core.NowMs));
        });
        spaces.MapPost("/hardware", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<HardwareBody>(ctx, o.MaxBodyBytes);
            if (string.IsNullOrWhiteSpace(b.Flavor)) throw new ApiException(400, "'flavor' is required, e.g. {\"flavor\": \"t4-medium\"}");
            var s = await core.OwnerActionAsync(p, Http.SpaceId(ns, name), "change its hardware",
                new HardwareRequested(b.Flavor, b.SleepTimeSeconds), ctx.RequestAborted);
            return TypedResults.Ok(Views.Runtime(s, core.Machine, core.NowMs));
        });
        spaces.MapPost("/sleeptime", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var b = await Http.BodyAsync<SleepBody>(ctx, o.MaxBodyBytes);
            if (b.Seconds is null) throw new ApiException(400, "'seconds' is required (-1 = never sleep)");
            var s = await core.OwnerActionAsync(p, Http.SpaceId(ns, name), "set its sleep time", new SleepTimeSet(b.Seconds.Value), ctx.RequestAborted);
            return TypedResults.Ok(Views.Runtime(s, core.Machine, core.NowMs));
        });
        spaces.MapPost("/pause", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var s = await core.OwnerActionAsync(p, Http.SpaceId(ns, name), "pause it", new PauseRequested(false, null), ctx.RequestAborted);
            return TypedResults.Ok(Views.Runtime(s, core.Machine, core.NowMs));
        });
        spaces.MapPost("/restart", async (string ns, string name, bool? factory, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            var s = await core.OwnerActionAsync(p, Http.SpaceId(ns, name), "restart it", new RestartRequested(factory == true), ctx.RequestAborted);
            return TypedResults.Ok(Views.Runtime(s, core.Machine, core.NowMs));
        });
        // A visitor arrives (anonymous allowed, like a page view): wakes a sleeping Space, postpones sleep.
        spaces.MapPost("/visit", async (string ns, string name, HttpContext ctx, CoreService core) =>
        {
            var s = await core.VisitAsync(Http.SpaceId(ns, name), ctx.RequestAborted);
            return TypedResults.Ok(new Dictionary<string, object?> { ["stage"] = s.Stage.ToWire() });
        });

        // The caller's Spaces (an admin may list anyone's); for dashboards.
        app.MapGet("/api/spaces", async (string? author, HttpContext ctx, CoreService core) =>
        {
            var p = await Http.RequireAsync(ctx, core);
            if (p.Kind != PrincipalKind.User) throw new LifecycleException(LifecycleErrorKind.Forbidden, "runner tokens cannot list Spaces");
            var who = author ?? (p.IsAdmin ? null : p.Name);
            if (who != p.Name && !p.IsAdmin) throw new LifecycleException(LifecycleErrorKind.Forbidden, $"user '{p.Name}' cannot list the Spaces of '{who ?? "everyone"}'");
            var now = core.NowMs;
            return TypedResults.Ok((await core.Store.ListSpacesAsync(who, ctx.RequestAborted)).Select(s => new Dictionary<string, object?>
            {
                ["id"] = s.Id, ["author"] = s.Owner, ["sdk"] = s.Sdk, ["runtime"] = Views.Runtime(s, core.Machine, now),
            }).ToArray());
        });
    }

    /// <summary>The client checks that the returned URL is on the endpoint it called: a configured public URL, or
    /// this request's own scheme and host.</summary>
    private static string BaseUrl(HttpContext ctx, CoreOptions o) =>
        !string.IsNullOrEmpty(o.PublicUrl) ? o.PublicUrl.TrimEnd('/') : $"{ctx.Request.Scheme}://{ctx.Request.Host}{ctx.Request.PathBase}";
}
