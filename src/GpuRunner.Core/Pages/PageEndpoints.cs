using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The core's web pages: log in with a user token, the Spaces list, and a Space page with its settings, device
/// report, usage chart and invoice. Server-rendered HTML plus one small script; every asset is embedded.
/// Actions are plain form posts that call the same <see cref="CoreService"/> methods with the same events and
/// owner rules as the Hub routes (<see cref="HubEndpoints"/>), so the browser can do nothing the API would refuse.
/// </summary>
public static class PageEndpoints
{
    public static WebApplication MapPages(this WebApplication app)
    {
        var core = app.Services.GetRequiredService<CoreService>();
        var o = app.Services.GetRequiredService<CoreOptions>();
        var sessions = new PageSessions(core.Clock, o.MaxSessionsPerUser, o.MaxSessions);

        app.MapGet("/", () => Results.Redirect("/spaces"));
        app.MapGet("/assets/{file}", (string file, HttpContext ctx) =>
        {
            if (PageAssets.Find(file) is not { } a) return Results.NotFound();
            ctx.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
            ctx.Response.Headers.ETag = $"\"{a.Hash}\"";
            ctx.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.Bytes(a.Bytes, a.ContentType);
        });

        app.MapGet("/login", async (HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not null) return Results.Redirect(SafeNext(ctx.Request.Query["next"]));
            return LoginPage(ctx, null, 200);
        });
        app.MapPost("/login", async (HttpContext ctx) =>
        {
            var form = await ReadFormAsync(ctx);
            if (form is null || !PageForms.SameOrigin(ctx.Request) ||
                !PageForms.Same(form[PageForms.Field], ctx.Request.Cookies[PageSessions.LoginCsrfCookie]))
                return LoginPage(ctx, "The login form expired or came from another site. Please try again.", 403);
            var token = form["token"].ToString().Trim();
            if (token.Length == 0) return LoginPage(ctx, "Enter your user token.", 400);
            // The API's throttle: counted per address and token prefix; a token that worked recently always gets in.
            var (p, wait) = await core.AuthenticateFromAsync(token, Http.Client(ctx), ctx.RequestAborted);
            if (wait > 0)
            {
                ctx.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return LoginPage(ctx, $"Too many failed logins from this address or with similar tokens; try again in {(wait + 59) / 60} min.", 429);
            }
            if (p is null || p.Kind != PrincipalKind.User)
                return LoginPage(ctx, p is null ? "Invalid or revoked token."
                    : $"That is the runner token of {p.SpaceId}; log in with your user token.", 401);
            var sid = sessions.Create(p.Name, Tokens.Hash(token));
            ctx.Response.Cookies.Append(PageSessions.Cookie, sid, PageSessions.CookieOptions(ctx, PageSessions.Lifetime));
            ctx.Response.Cookies.Delete(PageSessions.LoginCsrfCookie, PageSessions.CookieOptions(ctx, null));
            return Results.Redirect(SafeNext(form["next"]));
        });
        app.MapPost("/logout", async (HttpContext ctx) =>
        {
            var u = await UserAsync(ctx, core, sessions);
            var form = await ReadFormAsync(ctx);
            if (u is not null && form is not null && PageForms.SameOrigin(ctx.Request) && PageForms.Same(form[PageForms.Field], u.Session.Csrf))
                sessions.Remove(u.SessionId);
            else if (u is not null)
                return ErrorPage(ctx, u, 403, "Not logged out", "The form expired or came from another site; reload the page and try again.");
            ctx.Response.Cookies.Delete(PageSessions.Cookie, PageSessions.CookieOptions(ctx, null));
            return Results.Redirect("/login");
        });

        TokensPage.Map(app, core, sessions);

        app.MapGet("/spaces", async (HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not { } u) return ToLogin(ctx);
            return HtmlPage(ctx, await SpaceListPage.RenderAsync(core, u, ctx.RequestAborted), 200);
        });

        app.MapGet("/admin/fleet", async (HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not { } u) return ToLogin(ctx);
            if (!u.Principal.IsAdmin) return ErrorPage(ctx, u, 403, "Admins only", "The GPU fleet view is for the platform's operators (admin users).");
            return HtmlPage(ctx, await FleetPage.RenderAsync(core, Metrics.GpuTelemetry.Of(ctx), u, ctx.RequestAborted), 200);
        });

        app.MapGet("/spaces/{ns}/{name}", async (string ns, string name, HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not { } u) return ToLogin(ctx);
            return await SpacePageAsync(ctx, core, u, ns, name, null, 200);
        });

        app.MapGet("/spaces/{ns}/{name}/invoice.csv", async (string ns, string name, HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not { } u) return ToLogin(ctx);
            try
            {
                var id = Http.SpaceId(ns, name);
                await core.GetAsync(u.Principal, id, ctx.RequestAborted); // the API's read rule: owner (or admin)
                var (from, to) = Http.Period(ctx.Request, core.NowMs);
                var inv = await core.InvoiceAsync($"space {id}", from, to, id, null, ctx.RequestAborted);
                var file = $"{ns}_{name}_{SpacePage.PeriodSlug(from, to)}.csv";
                ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{file}\"";
                ctx.Response.Headers.CacheControl = "no-store";
                return Results.Text(Views.InvoiceCsv(inv), "text/csv; charset=utf-8");
            }
            catch (Exception e) when (e is LifecycleException or ApiException)
            {
                return ErrorPage(ctx, u, StatusOf(e), "No invoice", e.Message);
            }
        });

        // Owner actions: the same events, owner rule and wording as the Hub routes.
        app.MapPost("/spaces/{ns}/{name}/{action}", async (string ns, string name, string action, HttpContext ctx) =>
        {
            if (await UserAsync(ctx, core, sessions) is not { } u) return ToLogin(ctx);
            var form = await ReadFormAsync(ctx);
            if (form is null || !PageForms.SameOrigin(ctx.Request) || !PageForms.Same(form[PageForms.Field], u.Session.Csrf))
                return await SpacePageAsync(ctx, core, u, ns, name,
                    "The form expired or came from another site; nothing was changed. Please try again.", 403);
            try
            {
                var id = Http.SpaceId(ns, name);
                var (what, e) = action switch
                {
                    "hardware" => ("change its hardware", (SpaceEvent)new HardwareRequested(
                        Required(form["flavor"], "choose a hardware flavor"), null)),
                    "sleeptime" => ("set its sleep time", new SleepTimeSet(
                        long.TryParse(form["seconds"], out var sec) ? sec : throw new ApiException(400, "choose a sleep time"))),
                    "pause" => ("pause it", new PauseRequested(false, null)),
                    "restart" => ("restart it", new RestartRequested(form["factory"] == "on")),
                    _ => throw new LifecycleException(LifecycleErrorKind.NotFound, $"no such action '{action}'"),
                };
                await core.OwnerActionAsync(u.Principal, id, what, e, ctx.RequestAborted);
                return Results.Redirect($"/spaces/{Uri.EscapeDataString(ns)}/{Uri.EscapeDataString(name)}?done={action}");
            }
            catch (Exception e) when (e is LifecycleException or ApiException)
            {
                return await SpacePageAsync(ctx, core, u, ns, name, e.Message, StatusOf(e));
            }
        });
        return app;
    }

    private static string Required(StringValues v, string what) =>
        string.IsNullOrWhiteSpace(v) ? throw new ApiException(400, what) : v.ToString();

    private static int StatusOf(Exception e) => e switch
    {
        LifecycleException l => ApiErrors.StatusOf(l.Kind),
        ApiException a => a.Status,
        _ => 500,
    };

    private static async Task<IResult> SpacePageAsync(HttpContext ctx, CoreService core, PageUser u, string ns, string name, string? error, int status)
    {
        try
        {
            var html = await SpacePage.RenderAsync(ctx, core, u, Http.SpaceId(ns, name), error, ctx.RequestAborted);
            return HtmlPage(ctx, html, status);
        }
        catch (Exception e) when (e is LifecycleException or ApiException)
        {
            return ErrorPage(ctx, u, StatusOf(e), "Cannot show this Space", e.Message);
        }
    }

    /// <summary>The session's user, re-checked against the store on every request (a revoked token logs out).</summary>
    internal static async Task<PageUser?> UserAsync(HttpContext ctx, CoreService core, PageSessions sessions)
    {
        var sid = ctx.Request.Cookies[PageSessions.Cookie];
        if (sessions.Find(sid) is not { } s) return null;
        var p = await core.Store.FindTokenAsync(s.TokenHash, ctx.RequestAborted);
        if (p is null || p.Kind != PrincipalKind.User || p.Name != s.User)
        {
            sessions.Remove(sid);
            return null;
        }
        return new PageUser(p, s, sid!);
    }

    internal static async Task<IFormCollection?> ReadFormAsync(HttpContext ctx)
    {
        if (!ctx.Request.HasFormContentType) return null;
        try { return await ctx.Request.ReadFormAsync(ctx.RequestAborted); }
        catch (InvalidDataException) { return null; }
    }

    internal static IResult ToLogin(HttpContext ctx) =>
        Results.Redirect("/login?next=" + Uri.EscapeDataString(ctx.Request.Path + ctx.Request.QueryString));

    /// <summary>
    /// Only a local path: an open redirect after login would hand the session to another site. The check runs on the
    /// target as a browser reads it: tabs and line breaks dropped anywhere, leading and trailing controls and spaces
    /// trimmed, '\' taken as '/'. What is left must start with one '/' (not "//", a host) and be printable ASCII (a
    /// Location header can carry nothing else); anything else goes to /spaces.
    /// </summary>
    internal static string SafeNext(StringValues next)
    {
        var raw = next.ToString();
        if (raw.Length is 0 or > 2000) return "/spaces";
        var sb = new System.Text.StringBuilder(raw.Length);
        foreach (var ch in raw)
            if (ch is not ('\t' or '\n' or '\r')) sb.Append(ch == '\\' ? '/' : ch);
        var n = sb.ToString().Trim((char[])[.. Enumerable.Range(0, 33).Select(i => (char)i)]);
        if (!n.StartsWith('/') || n.StartsWith("//", StringComparison.Ordinal)) return "/spaces";
        return n.All(ch => ch is > ' ' and <= '~') ? n : "/spaces";
    }

    private static IResult LoginPage(HttpContext ctx, string? error, int status)
    {
        var csrf = Tokens.New("");
        ctx.Response.Cookies.Append(PageSessions.LoginCsrfCookie, csrf, PageSessions.CookieOptions(ctx, TimeSpan.FromHours(1)));
        var next = SafeNext(ctx.Request.HasFormContentType ? ctx.Request.Form["next"] : ctx.Request.Query["next"]);
        var page = new PageBuilder("Log in", null, null).Add($"""
            <section class="card login">
              <h1>Log in</h1>
              <p>Use your GpuRunner user token (the one you give <code>gpurunner spaces --token</code>).</p>
              {(error is null ? "" : $"<p class=\"flash error\" role=\"alert\">{Html.E(error)}</p>")}
              <form method="post" action="/login">
                {PageForms.Csrf(csrf)}
                <input type="hidden" name="next" value="{Html.Attr(next)}">
                <label for="token">User token</label>
                <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
                <button type="submit" class="primary">Log in</button>
              </form>
              <p class="note">The token is checked and then forgotten: the browser keeps only a random session id in an HttpOnly cookie.</p>
            </section>
            """);
        return HtmlPage(ctx, page.Render(), status);
    }

    internal static IResult ErrorPage(HttpContext ctx, PageUser? u, int status, string title, string message)
    {
        var page = new PageBuilder(title, u?.Name, u?.Session.Csrf, u?.Principal.IsAdmin ?? false).Add($"""
            <section class="card"><h1>{Html.E(title)}</h1>
            <p class="flash error" role="alert">{Html.E(message)}</p>
            <p><a href="/spaces">Back to your Spaces</a></p></section>
            """);
        return HtmlPage(ctx, page.Render(), status);
    }

    /// <summary>Pages are never cached and may load nothing but this site's own CSS and script.</summary>
    internal static IResult HtmlPage(HttpContext ctx, string html, int status)
    {
        var h = ctx.Response.Headers;
        h.CacheControl = "no-store";
        h.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
                                  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h["Referrer-Policy"] = "same-origin";
        return Results.Content(html, "text/html; charset=utf-8", System.Text.Encoding.UTF8, status);
    }
}
