using System.Net;
using System.Text.RegularExpressions;
using GpuRunner.Core.Storage;

namespace GpuRunner.Pages.Tests;

/// <summary>Redirects, login throttling, session caps, the Tokens page and odd stored data, over HTTP.</summary>
public sealed class HardeningPageTests
{
    private static HttpClient Client(TestCore core, CookieContainer jar) =>
        new(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = new Uri(core.Url), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<string> LoginCsrfAsync(HttpClient http) =>
        Regex.Match(await http.GetStringAsync("/login"), "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;

    private static FormUrlEncodedContent Form(params (string, string)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2)));

    private static async Task<HttpResponseMessage> LoginAsync(HttpClient http, string token, string? next = null) =>
        await http.PostAsync("/login", Form([("token", token), ("_csrf", await LoginCsrfAsync(http)), .. next is null ? Array.Empty<(string, string)>() : [("next", next)]]));

    [Theory]
    [InlineData("/\t/evil.example")]
    [InlineData("/\n/evil.example")]
    [InlineData("\t//evil.example")]
    [InlineData(" //evil.example")]
    [InlineData("/\\evil.example")]
    [InlineData("\\\\evil.example")]
    [InlineData("\\/evil.example")]
    [InlineData("http://evil.example/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/a\u000bb")]
    [InlineData("/spaces\u00e9")]
    public async Task After_login_only_a_local_path_is_followed(string next)
    {
        await using var core = await TestCore.StartAsync();
        using var http = Client(core, new CookieContainer());
        var res = await LoginAsync(http, TestCore.AliceToken, next);
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
        Assert.Equal("/spaces", res.Headers.Location?.ToString());
        // The login page itself (GET with ?next=) never fails on it either.
        var page = await http.GetAsync("/login?next=" + Uri.EscapeDataString(next));
        Assert.True((int)page.StatusCode < 500, $"GET /login?next=... answered {(int)page.StatusCode}");
    }

    [Fact]
    public async Task A_local_next_is_followed()
    {
        await using var core = await TestCore.StartAsync();
        using var http = Client(core, new CookieContainer());
        var res = await LoginAsync(http, TestCore.AliceToken, "/spaces/alice/app?period=2026-11");
        Assert.Equal("/spaces/alice/app?period=2026-11", res.Headers.Location?.ToString());
    }

    [Fact]
    public async Task Failed_logins_from_a_shared_address_do_not_lock_out_a_user_whose_token_works()
    {
        await using var core = await TestCore.StartAsync();
        using (var owner = Client(core, new CookieContainer()))
            Assert.Equal(HttpStatusCode.Redirect, (await LoginAsync(owner, TestCore.AliceToken)).StatusCode);
        using var attacker = Client(core, new CookieContainer());
        for (var i = 0; i < 10; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(attacker, $"guess-{i}-xxxxxxxx")).StatusCode);
        var refused = await LoginAsync(attacker, "guess-10-xxxxxxxx");
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        // Same address (loopback), but alice's token has logged in before: she gets in.
        using var again = Client(core, new CookieContainer());
        Assert.Equal(HttpStatusCode.Redirect, (await LoginAsync(again, TestCore.AliceToken)).StatusCode);
        // The API path shares the throttle: a new wrong token from here waits too.
        await core.SendAsync(HttpMethod.Get, "/api/whoami-v2", "guess-11-xxxxxxxx", expect: 429);
    }

    [Fact]
    public async Task Sessions_are_capped_per_user_and_the_oldest_is_logged_out()
    {
        await using var core = await TestCore.StartAsync();
        var jars = new List<CookieContainer>();
        for (var i = 0; i < 12; i++)
        {
            var jar = new CookieContainer();
            using var http = Client(core, jar);
            Assert.Equal(HttpStatusCode.Redirect, (await LoginAsync(http, TestCore.AliceToken)).StatusCode);
            core.Clock.Advance(TimeSpan.FromSeconds(1)); // an order among them
            jars.Add(jar);
        }
        var statuses = new List<HttpStatusCode>();
        foreach (var jar in jars)
        {
            using var http = Client(core, jar);
            statuses.Add((await http.GetAsync("/spaces")).StatusCode);
        }
        // The default cap is 10 per user: the two oldest were logged out, the ten newest still work.
        Assert.Equal([HttpStatusCode.Redirect, HttpStatusCode.Redirect, .. Enumerable.Repeat(HttpStatusCode.OK, 10)], statuses);
    }

    [Fact]
    public void Sessions_are_capped_in_all_and_the_oldest_goes_first()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
        var sessions = new GpuRunner.Core.Pages.PageSessions(clock, maxPerUser: 10, maxTotal: 5);
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(sessions.Create($"user{i}", "hash"));
            clock.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(5, sessions.Count);
        Assert.All(ids.Take(3), id => Assert.Null(sessions.Find(id)));
        Assert.All(ids.Skip(3), id => Assert.NotNull(sessions.Find(id)));
    }

    [Fact]
    public async Task The_tokens_page_makes_lists_and_revokes_named_tokens()
    {
        await using var core = await TestCore.StartAsync();
        var jar = new CookieContainer();
        using var http = Client(core, jar);
        await LoginAsync(http, TestCore.AliceToken);
        var page = await http.GetStringAsync("/tokens");
        var csrf = Regex.Match(page, "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        var made = await http.PostAsync("/tokens", Form(("_csrf", csrf), ("name", "ci")));
        var html = await made.Content.ReadAsStringAsync();
        var secret = Regex.Match(html, "id=\"token-secret\">(gru_[^<]+)<").Groups[1].Value;
        Assert.NotEmpty(secret);
        Assert.Equal("alice", (await core.SendAsync(HttpMethod.Get, "/api/whoami-v2", secret)).GetProperty("name").GetString());
        Assert.DoesNotContain(secret, await http.GetStringAsync("/tokens")); // shown once
        var id = Regex.Match(html, "data-token=\"([0-9a-f]{12})\"><td><code>[0-9a-f]{12}</code></td><td>ci<").Groups[1].Value;
        Assert.NotEmpty(id);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/tokens", Form(("_csrf", csrf), ("revoke", id)))).StatusCode);
        await core.SendAsync(HttpMethod.Get, "/api/whoami-v2", secret, expect: 401);
        // A cross-site post changes nothing.
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync("/tokens", Form(("_csrf", "guessed"), ("name", "evil")))).StatusCode);
    }

    [Fact]
    public async Task Pages_never_fail_on_odd_stored_data()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.RunAsync("alice/app", "run-1", "t4-small");
        // Reports stored before the core validated them at the door: wrong types, non-objects, junk.
        var now = core.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        var odd = new[]
        {
            """{"gpus":[{"name":"T4","memoryTotalMiB":"15360"}],"checks":[5,{"status":"FAIL","id":7}],"tier":"x","driver":[],"verdict":3}""",
            """{"gpus":[1,"two",null,{"name":{"x":1},"memoryTotalMiB":1e308}]}""",
            "[]", "not json",
        };
        var i = 0;
        foreach (var detail in odd)
        {
            var at = now + ++i;
            var payload = CoreJson.Event(new GpuRunner.Lifecycle.DeviceReported("run-1", null, null, null) { AtMs = at });
            await core.Store.WriteAsync(tx => { tx.InsertEvent(new StoredEvent("alice/app", "run:run-1", $"odd{at}", "device", at, at, true, payload, detail)); return 0; });
            var jar = new CookieContainer();
            using var http = Client(core, jar);
            await LoginAsync(http, TestCore.AliceToken);
            var res = await http.GetAsync("/spaces/alice/app");
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }
    }
}
