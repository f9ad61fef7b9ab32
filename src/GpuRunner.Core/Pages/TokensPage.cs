using System.Text;
using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace GpuRunner.Core.Pages;

/// <summary>The user's own tokens: list (id, name, prefix, created), make a named one (its secret is shown once) and
/// revoke one. The same <see cref="CoreService"/> calls as the API's /api/user/tokens, behind the forms' CSRF check.</summary>
internal static class TokensPage
{
    public static void Map(WebApplication app, CoreService core, PageSessions sessions)
    {
        app.MapGet("/tokens", async (HttpContext ctx) =>
        {
            if (await PageEndpoints.UserAsync(ctx, core, sessions) is not { } u) return PageEndpoints.ToLogin(ctx);
            return await RenderAsync(ctx, core, u, null, null, 200);
        });
        app.MapPost("/tokens", async (HttpContext ctx) =>
        {
            if (await PageEndpoints.UserAsync(ctx, core, sessions) is not { } u) return PageEndpoints.ToLogin(ctx);
            var form = await PageEndpoints.ReadFormAsync(ctx);
            if (form is null || !PageForms.SameOrigin(ctx.Request) || !PageForms.Same(form[PageForms.Field], u.Session.Csrf))
                return await RenderAsync(ctx, core, u, null, "The form expired or came from another site; nothing was changed.", 403);
            try
            {
                if (form["revoke"].ToString() is { Length: > 0 } id)
                {
                    var row = await core.RevokeUserTokenAsync(u.Principal, id, ctx.RequestAborted);
                    // Revoking the token this browser logged in with ends this session too (the next request sees it gone).
                    return await RenderAsync(ctx, core, u, $"Revoked token {Tokens.Id(row.Hash)} ({row.Name}).", null, 200);
                }
                var (token, made) = await core.IssueUserTokenAsync(u.Principal, form["name"].ToString().Trim(), ctx.RequestAborted);
                return await RenderAsync(ctx, core, u, null, null, 200, (token, made));
            }
            catch (LifecycleException e)
            {
                return await RenderAsync(ctx, core, u, null, e.Message, ApiErrors.StatusOf(e.Kind));
            }
        });
    }

    private static async Task<IResult> RenderAsync(HttpContext ctx, CoreService core, PageUser u, string? done, string? error, int status,
        (string Token, UserTokenRow Row)? made = null)
    {
        var rows = await core.ListUserTokensAsync(u.Principal, ctx.RequestAborted);
        var sb = new StringBuilder("<h1>Your tokens</h1>");
        if (error is not null) sb.Append("<p class=\"flash error\" role=\"alert\">").Append(Html.E(error)).Append("</p>");
        if (done is not null) sb.Append("<p class=\"flash ok\" role=\"status\">").Append(Html.E(done)).Append("</p>");
        if (made is { } m)
            sb.Append("<section class=\"card\" id=\"new-token\"><h2>Token ").Append(Html.E(m.Row.Name)).Append(" made</h2>")
              .Append("<p>Copy it now: it is shown only this once (the core keeps only its hash).</p><pre><code id=\"token-secret\">")
              .Append(Html.E(m.Token)).Append("</code></pre></section>");
        sb.Append("<section class=\"card\"><table id=\"tokens\"><thead><tr><th>Id</th><th>Name</th><th>Prefix</th><th>Created</th><th></th></tr></thead><tbody>");
        foreach (var t in rows)
        {
            var id = Tokens.Id(t.Hash);
            sb.Append("<tr data-token=\"").Append(Html.Attr(id)).Append("\"><td><code>").Append(Html.E(id)).Append("</code></td><td>")
              .Append(Html.E(t.Name)).Append(t.Name == Tokens.SeedName ? " <small class=\"muted\">(from the core's --user/--admin)</small>" : "")
              .Append("</td><td><code>").Append(Html.E(t.Prefix is null ? "—" : t.Prefix + "…")).Append("</code></td><td>")
              .Append(Html.E(Html.Time(t.CreatedMs))).Append("</td><td><form method=\"post\" action=\"/tokens\" class=\"inline\">")
              .Append(PageForms.Csrf(u.Session.Csrf)).Append("<input type=\"hidden\" name=\"revoke\" value=\"").Append(Html.Attr(id))
              .Append("\"><button type=\"submit\" class=\"danger\">Revoke</button></form></td></tr>");
        }
        sb.Append("</tbody></table></section>");
        sb.Append("<section class=\"card\"><h2>Make a token</h2><form method=\"post\" action=\"/tokens\">").Append(PageForms.Csrf(u.Session.Csrf))
          .Append("<label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9._\\-]+\">")
          .Append("<button type=\"submit\" class=\"primary\">Make token</button></form>")
          .Append("<p class=\"note\">A token acts as you on the API and the Hub client. Revoked tokens are refused at once.</p></section>");
        return PageEndpoints.HtmlPage(ctx, new PageBuilder("Tokens", u.Name, u.Session.Csrf, u.Principal.IsAdmin).Add(sb.ToString()).Render(), status);
    }
}
