using System.Net;
using System.Text.RegularExpressions;

namespace GpuRunner.Pages.Tests;

/// <summary>Login, session and CSRF rules at the HTTP level (no browser needed).</summary>
public sealed class SessionTests
{
    private static HttpClient Client(TestCore core, CookieContainer jar) =>
        new(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = new Uri(core.Url), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<string> LoginCsrfAsync(HttpClient http)
    {
        var html = await http.GetStringAsync("/login");
        return Regex.Match(html, "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
    }

    private static FormUrlEncodedContent Form(params (string, string)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2)));

    [Fact]
    public async Task Login_needs_the_forms_csrf_token_and_never_redirects_off_site()
    {
        await using var core = await TestCore.StartAsync();
        var jar = new CookieContainer();
        using var http = Client(core, jar);

        // Without the login form's CSRF token (a cross-site post): refused, no session.
        var res = await http.PostAsync("/login", Form(("token", TestCore.AliceToken)));
        Assert.Equal(HttpStatusCode.Forbidden, res.StatusCode);
        Assert.DoesNotContain(jar.GetAllCookies(), c => c.Name == "gpurunner_session");

        // A post from another origin is refused even with the token.
        var csrf = await LoginCsrfAsync(http);
        using (var req = new HttpRequestMessage(HttpMethod.Post, "/login") { Content = Form(("token", TestCore.AliceToken), ("_csrf", csrf)) })
        {
            req.Headers.Add("Origin", "http://evil.example");
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(req)).StatusCode);
        }

        // With it: a session cookie, and `next` is honoured only for local paths.
        csrf = await LoginCsrfAsync(http);
        res = await http.PostAsync("/login", Form(("token", TestCore.AliceToken), ("_csrf", csrf), ("next", "//evil.example/x")));
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
        Assert.Equal("/spaces", res.Headers.Location?.ToString());
        var session = Assert.Single(jar.GetAllCookies(), c => c.Name == "gpurunner_session");
        Assert.True(session.HttpOnly);
        Assert.DoesNotContain(TestCore.AliceToken, session.Value);

        var page = await http.GetAsync("/spaces");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("no-store", page.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task Runner_tokens_cannot_log_in_and_a_stolen_cookie_without_csrf_changes_nothing()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/app", "t4-small");
        var runner = (await core.PostAsync("/api/spaces/alice/app/tokens", TestCore.AliceToken)).GetProperty("token").GetString()!;
        var jar = new CookieContainer();
        using var http = Client(core, jar);

        var res = await http.PostAsync("/login", Form(("token", runner), ("_csrf", await LoginCsrfAsync(http))));
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
        Assert.Contains("runner token of alice/app", await res.Content.ReadAsStringAsync());

        res = await http.PostAsync("/login", Form(("token", TestCore.AliceToken), ("_csrf", await LoginCsrfAsync(http))));
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
        res = await http.PostAsync("/spaces/alice/app/pause", Form(("_csrf", "guessed")));
        Assert.Equal(HttpStatusCode.Forbidden, res.StatusCode);
        Assert.Equal("BUILDING", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());

        // Not logged in: pages send you to the login page, with the way back.
        using var anon = Client(core, new CookieContainer());
        res = await anon.GetAsync("/spaces/alice/app?period=2026-11");
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
        Assert.Equal("/login?next=%2Fspaces%2Falice%2Fapp%3Fperiod%3D2026-11", res.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.Redirect, (await anon.PostAsync("/spaces/alice/app/pause", Form())).StatusCode);
        Assert.Equal("BUILDING", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());
    }

    [Fact]
    public async Task Repeated_failed_logins_are_slowed_down()
    {
        await using var core = await TestCore.StartAsync();
        using var http = Client(core, new CookieContainer());
        for (var i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync("/login", Form(("token", $"guess-{i}-xxxxxxxx"), ("_csrf", await LoginCsrfAsync(http))))).StatusCode);
        var res = await http.PostAsync("/login", Form(("token", TestCore.AliceToken), ("_csrf", await LoginCsrfAsync(http))));
        Assert.Equal((HttpStatusCode)429, res.StatusCode); // even the right token waits
        Assert.Contains("Too many failed logins", await res.Content.ReadAsStringAsync());
        core.Clock.Advance(TimeSpan.FromMinutes(6));
        res = await http.PostAsync("/login", Form(("token", TestCore.AliceToken), ("_csrf", await LoginCsrfAsync(http))));
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
    }

    [Fact]
    public async Task Bad_input_gets_a_page_with_the_reason_never_a_500()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/app", "cpu-basic");
        var jar = new CookieContainer();
        using var http = Client(core, jar);
        await http.PostAsync("/login", Form(("token", TestCore.AliceToken), ("_csrf", await LoginCsrfAsync(http))));
        var csrf = Regex.Match(await http.GetStringAsync("/spaces/alice/app"), "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;

        async Task<(HttpStatusCode, string)> Post(string path, params (string, string)[] f)
        {
            var r = await http.PostAsync(path, Form([("_csrf", csrf), .. f]));
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        var (st, body) = await Post("/spaces/alice/app/sleeptime", ("seconds", "3600"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, st); // the domain's rule: no sleep time on cpu-basic
        Assert.Contains("cannot be set", body);
        (st, body) = await Post("/spaces/alice/app/hardware", ("flavor", "h100-imaginary"));
        Assert.Equal(HttpStatusCode.BadRequest, st);
        Assert.Contains("unknown hardware flavor", body);
        (st, _) = await Post("/spaces/alice/app/sleeptime", ("seconds", "soon"));
        Assert.Equal(HttpStatusCode.BadRequest, st);
        (st, _) = await Post("/spaces/alice/nope/pause");
        Assert.Equal(HttpStatusCode.NotFound, st);
        (st, _) = await Post("/spaces/alice/app/explode");
        Assert.Equal(HttpStatusCode.NotFound, st);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/spaces/alice/app?period=13-2026")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/spaces/alice/missing")).StatusCode);
    }
}
