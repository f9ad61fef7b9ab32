using Microsoft.Playwright;

namespace GpuRunner.Pages.Tests;

/// <summary>
/// The web pages in a real browser against a real core on loopback: log in, change the hardware and watch the
/// badge and requested/current state, set a sleep time, pause, see the usage chart, and a non-owner who cannot
/// pause. Each test saves screenshots under TestResults/screenshots.
/// </summary>
public sealed class PageTests(BrowserFixture fx) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 15_000;

    /// <summary>Requests to anywhere but the core, and console errors (e.g. a CSP violation), seen by any page.</summary>
    private readonly List<string> _problems = [];

    private async Task<(TestCore Core, IBrowserContext Ctx, IPage Page)> OpenAsync()
    {
        Skip.If(fx.SkipReason is not null, fx.SkipReason);
        var core = await TestCore.StartAsync();
        var ctx = await fx.Browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = core.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 900 }, Locale = "en-US", TimezoneId = "UTC",
        });
        ctx.SetDefaultTimeout(Timeout);
        var page = await ctx.NewPageAsync();
        page.Dialog += async (_, d) => await d.AcceptAsync(); // the confirm() before pause / hardware change
        // Nothing may be fetched from the internet, and the pages must run clean under their CSP.
        page.Request += (_, r) => { if (!r.Url.StartsWith(core.Url + "/", StringComparison.Ordinal)) lock (_problems) _problems.Add("external request: " + r.Url); };
        // (Error pages answer 4xx on purpose; Chromium logs those as "Failed to load resource".)
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) lock (_problems) _problems.Add("console error: " + m.Text); };
        page.PageError += (_, e) => { lock (_problems) _problems.Add("script error: " + e); };
        return (core, ctx, page);
    }

    private static async Task LoginAsync(IPage page, string token)
    {
        await page.GotoAsync("/login");
        await page.FillAsync("#token", token);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("header .user");
        Assert.EndsWith("/spaces", page.Url);
    }

    private void NoProblems()
    {
        lock (_problems) Assert.True(_problems.Count == 0, string.Join("\n", _problems));
    }

    private Task ShotAsync(IPage page, string name)
    {
        NoProblems();
        return page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDir(), name + ".png"), FullPage = true });
    }

    private static async Task<string> TextAsync(IPage page, string selector) => (await page.Locator(selector).InnerTextAsync()).Trim();

    [SkippableFact]
    public async Task Login_refuses_a_bad_token_then_lists_the_users_spaces()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.CreateSpaceAsync("bob/other", "cpu-basic", TestCore.BobToken);

        var res = await page.GotoAsync("/spaces");
        Assert.Contains("/login", page.Url); // not logged in: sent to the login page
        await page.FillAsync("#token", "not-a-token-at-all");
        await page.ClickAsync("button[type=submit]");
        Assert.Contains("Invalid or revoked token", await TextAsync(page, ".flash.error"));
        await ShotAsync(page, "login");

        await page.FillAsync("#token", TestCore.AliceToken);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("header .user");
        Assert.EndsWith("/spaces", page.Url);
        var rows = page.Locator("#spaces tbody tr");
        Assert.Equal(1, await rows.CountAsync()); // alice sees hers, not bob's
        Assert.Equal("alice/app", await rows.First.GetAttributeAsync("data-space"));
        Assert.Equal("T4 · 16 GB", await TextAsync(page, "#spaces tbody tr .badge"));
        Assert.Contains("BUILDING", await TextAsync(page, "#spaces tbody tr .pill"));
        await ShotAsync(page, "spaces");

        // The cookie is HttpOnly + SameSite=Strict and holds no token.
        var cookie = Assert.Single(await ctx.CookiesAsync(), c => c.Name == "gpurunner_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(TestCore.AliceToken, cookie.Value);

        await page.ClickAsync("header button:has-text('Log out')");
        await page.WaitForSelectorAsync("#token");
        await page.GotoAsync("/spaces");
        Assert.Contains("/login", page.Url);
    }

    [SkippableFact]
    public async Task Changing_the_hardware_moves_requested_then_current_and_the_badge()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "cpu-basic");
        await core.RunAsync("alice/app", "run-1", "cpu-basic");
        await LoginAsync(page, TestCore.AliceToken);

        await page.GotoAsync("/spaces/alice/app");
        Assert.Equal("CPU basic", await TextAsync(page, ".title .badge"));
        Assert.Contains("cpu-basic", await TextAsync(page, "#current"));
        // Every flavor is offered with its hourly price.
        Assert.Equal(7, await page.Locator("#hardware-form input[name=flavor]").CountAsync());
        Assert.Contains("$0.90/h", await TextAsync(page, "#hardware-form tr:has(#hw-t4-medium) .price"));
        Assert.Contains("free", await TextAsync(page, "#hardware-form tr:has(#hw-cpu-basic) .price"));

        await page.CheckAsync("#hw-t4-medium");
        await page.ClickAsync("#save-hardware");
        await page.WaitForSelectorAsync("#flash.ok");
        Assert.Contains("t4-medium", await TextAsync(page, "#requested"));
        Assert.Contains("cpu-basic", await TextAsync(page, "#current")); // still on the old hardware...
        Assert.Contains("switching to t4-medium", await TextAsync(page, "#switching"));
        Assert.Equal("RUNNING_BUILDING", await page.Locator(".title .pill").GetAttributeAsync("data-stage"));
        var rt = await core.RuntimeAsync("alice/app"); // the API agrees: the same rules ran
        Assert.Equal("t4-medium", rt.GetProperty("hardware").GetProperty("requested").GetString());
        Assert.Equal("cpu-basic", rt.GetProperty("hardware").GetProperty("current").GetString());
        await ShotAsync(page, "space-switching");

        // The new hardware comes up: a new run on a T4 reaches RUNNING.
        await core.RunnerAsync("alice/app", "runs", "run-2", new { host = "t4" });
        await core.RunnerAsync("alice/app", "device", "run-2", new { report = TestCore.DeviceReport("t4-medium", "Tesla T4", 15360) });
        await core.RunnerAsync("alice/app", "stage", "run-2", new { stage = "APP_STARTING" });
        await core.RunnerAsync("alice/app", "stage", "run-2", new { stage = "RUNNING" });
        await page.ReloadAsync();
        Assert.Equal("T4 · 16 GB", await TextAsync(page, ".title .badge"));
        Assert.Contains("t4-medium", await TextAsync(page, "#current"));
        Assert.Equal(0, await page.Locator("#switching").CountAsync());
        Assert.Contains("Tesla T4", await TextAsync(page, "#device-gpu"));
        Assert.Contains("PASS", await TextAsync(page, "#device-verdict"));
        Assert.Contains("$0.90/h", await TextAsync(page, "#billing"));
        await ShotAsync(page, "space-t4");
    }

    [SkippableFact]
    public async Task Sleep_time_is_fixed_on_cpu_basic_and_settable_on_paid_hardware()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/free", "cpu-basic");
        await core.CreateSpaceAsync("alice/gpu", "t4-small");
        await LoginAsync(page, TestCore.AliceToken);

        await page.GotoAsync("/spaces/alice/free");
        Assert.True(await page.Locator("#sleep").IsDisabledAsync());
        Assert.Contains("cannot be changed", await TextAsync(page, "#sleep-note"));
        Assert.Contains("48 hours", await TextAsync(page, "#sleep-effective"));

        await page.GotoAsync("/spaces/alice/gpu");
        Assert.True(await page.Locator("#sleep").IsEnabledAsync());
        Assert.Contains("never sleeps", await TextAsync(page, "#sleep-effective"));
        await page.SelectOptionAsync("#sleep", "3600");
        await page.ClickAsync("#save-sleep");
        await page.WaitForSelectorAsync("#flash.ok");
        Assert.Contains("1 hour", await TextAsync(page, "#sleep-effective"));
        Assert.Equal("3600", await page.Locator("#sleep").InputValueAsync());
        Assert.Equal(3600, (await core.RuntimeAsync("alice/gpu")).GetProperty("gcTimeout").GetInt64());
        await ShotAsync(page, "space-sleep");
    }

    [SkippableFact]
    public async Task The_owner_pauses_and_billing_stops()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.RunAsync("alice/app", "run-1", "t4-small");
        core.Clock.Advance(TimeSpan.FromMinutes(10));
        await LoginAsync(page, TestCore.AliceToken);

        await page.GotoAsync("/spaces/alice/app");
        Assert.Contains("$0.60/h", await TextAsync(page, "#billing"));
        await page.ClickAsync("#pause");
        await page.WaitForSelectorAsync("#flash.ok");
        Assert.Equal("PAUSED", await page.Locator(".title .pill").GetAttributeAsync("data-stage"));
        Assert.Contains("not billing", await TextAsync(page, "#billing"));
        Assert.True(await page.Locator("#pause").IsDisabledAsync());
        Assert.Equal("PAUSED", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());
        Assert.Contains("$0.10", await TextAsync(page, "#invoice-owed")); // 10 min × $0.60/h
        await ShotAsync(page, "space-paused");

        // A form without the CSRF token changes nothing.
        var forged = await ctx.APIRequest.PostAsync("/spaces/alice/app/restart", new APIRequestContextOptions { Form = ctx.APIRequest.CreateFormData() });
        Assert.Equal(403, forged.Status);
        Assert.Equal("PAUSED", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());

        // Only the owner restarts it: back to BUILDING, the pause reason cleared.
        await page.ClickAsync("#restart");
        await page.WaitForSelectorAsync("#flash.ok");
        Assert.Equal("BUILDING", await page.Locator(".title .pill").GetAttributeAsync("data-stage"));
        Assert.True(await page.Locator("#pause").IsEnabledAsync());
        Assert.Equal("BUILDING", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());
    }

    [SkippableFact]
    public async Task The_usage_chart_shows_billed_minutes_and_cost_per_day()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        // The scenario: t4-medium runs 90 min, sleeps, wakes the next day, runs 30 min, fails (auto-paused).
        core.Clock.Set(new DateTimeOffset(2026, 11, 3, 10, 0, 0, TimeSpan.Zero));
        await core.CreateSpaceAsync("alice/app", "t4-medium");
        await core.RunAsync("alice/app", "run-1", "t4-medium");
        core.Clock.Advance(TimeSpan.FromMinutes(90));
        await core.RunnerAsync("alice/app", "stage", "run-1", new { stage = "STOPPED" });
        core.Clock.Set(new DateTimeOffset(2026, 11, 4, 10, 0, 0, TimeSpan.Zero));
        await core.PostAsync("/api/spaces/alice/app/visit", TestCore.BobToken);
        await core.RunnerAsync("alice/app", "stage", "run-1", new { stage = "RUNNING" });
        core.Clock.Advance(TimeSpan.FromMinutes(30));
        await core.RunnerAsync("alice/app", "exit", "run-1", new { exitCode = 1, stderrTail = "CUDA error: out of memory" });
        await LoginAsync(page, TestCore.AliceToken);

        await page.GotoAsync("/spaces/alice/app?period=2026-11");
        var bars = page.Locator("#chart-minutes rect.bar");
        Assert.Equal(2, await bars.CountAsync());
        Assert.Equal("2026-11-03", await bars.Nth(0).GetAttributeAsync("data-day"));
        Assert.Equal("2026-11-04", await bars.Nth(1).GetAttributeAsync("data-day"));
        Assert.Equal("t4-medium", await bars.Nth(0).GetAttributeAsync("data-flavor"));
        // Taller bar for the 90-minute day, and it really rendered (non-zero size on screen).
        var h0 = double.Parse(await bars.Nth(0).GetAttributeAsync("height") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        var h1 = double.Parse(await bars.Nth(1).GetAttributeAsync("height") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(h0 > 2.5 * h1 && h1 > 0, $"bar heights {h0} and {h1}");
        var box = await bars.Nth(0).BoundingBoxAsync();
        Assert.True(box is { Height: > 10, Width: > 3 }, "the bar is visible");
        Assert.Equal(2, await page.Locator("#chart-cost rect.bar").CountAsync());
        Assert.Contains("90 min, $1.35", await bars.Nth(0).Locator("title").TextContentAsync());
        Assert.Contains("120", await TextAsync(page, "#usage h3 >> nth=0"));
        Assert.Equal("$1.80", await TextAsync(page, "#invoice-owed")); // 120 min × $0.90/h
        Assert.Contains("auto-paused", await TextAsync(page, "#overview"));

        // The owner moves it to an A10G and restarts it the same day: day 4 stacks two flavors.
        core.Clock.Set(new DateTimeOffset(2026, 11, 4, 11, 0, 0, TimeSpan.Zero));
        await core.PostAsync("/api/spaces/alice/app/hardware", TestCore.AliceToken, new { flavor = "a10g-small" });
        await core.PostAsync("/api/spaces/alice/app/restart", TestCore.AliceToken);
        await core.RunAsync("alice/app", "run-2", "a10g-small", "NVIDIA A10G", 23028);
        core.Clock.Advance(TimeSpan.FromMinutes(45));
        await core.RunnerAsync("alice/app", "stage", "run-2", new { stage = "STOPPED" });
        await page.ReloadAsync();
        Assert.Equal(3, await bars.CountAsync());
        var day4 = page.Locator("#chart-minutes rect.bar[data-day='2026-11-04']");
        Assert.Equal(2, await day4.CountAsync());
        Assert.Equal(["a10g-small", "t4-medium"], (await Task.WhenAll(Enumerable.Range(0, 2).Select(i => day4.Nth(i).GetAttributeAsync("data-flavor")))).Order());
        Assert.NotEqual(await day4.Nth(0).GetAttributeAsync("fill"), await day4.Nth(1).GetAttributeAsync("fill"));
        Assert.Equal(2, await page.Locator("ul.legend li").CountAsync());
        Assert.Equal("$2.5875", await TextAsync(page, "#invoice-owed")); // + 45 min × $1.05/h
        await ShotAsync(page, "space-usage");

        // The CSV download is the same invoice.
        var csv = await ctx.APIRequest.GetAsync("/spaces/alice/app/invoice.csv?period=2026-11");
        Assert.Equal(200, csv.Status);
        var text = await csv.TextAsync();
        Assert.StartsWith("space,owner,flavor", text);
        Assert.Equal("/spaces/alice/app/invoice.csv?period=2026-11", await page.Locator("#invoice-csv").GetAttributeAsync("href"));
        Assert.Contains("alice/app,alice,t4-medium,0.90,7200", text);
        Assert.Contains("alice/app,alice,a10g-small,1.05,2700,45,0.7875,0.00,0.7875", text);
        Assert.Contains("TOTAL,,,,,,2.5875,0.00,2.5875", text);

        // Another month: nothing billed, the chart says so.
        await page.GotoAsync("/spaces/alice/app?period=2026-10");
        Assert.Equal(0, await page.Locator("#chart-minutes rect.bar").CountAsync());
        Assert.Contains("no billed usage", await page.Locator("#chart-minutes text.empty").TextContentAsync());
    }

    [SkippableFact]
    public async Task A_non_owner_sees_the_page_read_only_and_cannot_pause()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.RunAsync("alice/app", "run-1", "t4-small");
        await LoginAsync(page, TestCore.BobToken);

        await page.GotoAsync("/spaces/alice/app");
        Assert.Contains("only the owner", await TextAsync(page, "#readonly"));
        Assert.Equal(0, await page.Locator("#pause").CountAsync()); // no pause/restart controls
        Assert.Equal(0, await page.Locator("#restart").CountAsync());
        Assert.True(await page.Locator("#hw-t4-medium").IsDisabledAsync());
        Assert.True(await page.Locator("#save-hardware").IsDisabledAsync());
        Assert.True(await page.Locator("#sleep").IsDisabledAsync());
        Assert.Equal(0, await page.Locator("#chart-minutes").CountAsync()); // usage is the owner's
        Assert.Equal(0, await page.Locator("#device-gpu").CountAsync());
        await ShotAsync(page, "space-nonowner");

        // Even a well-formed form with bob's own CSRF token is refused by the core's owner rule.
        var csrf = await page.Locator("input[name=_csrf]").First.InputValueAsync();
        var form = ctx.APIRequest.CreateFormData();
        form.Set("_csrf", csrf);
        var res = await ctx.APIRequest.PostAsync("/spaces/alice/app/pause", new APIRequestContextOptions { Form = form });
        Assert.Equal(403, res.Status);
        Assert.Contains("only the owner of alice/app can pause it", await res.TextAsync());
        Assert.Equal("RUNNING", (await core.RuntimeAsync("alice/app")).GetProperty("stage").GetString());
        var csv = await ctx.APIRequest.GetAsync("/spaces/alice/app/invoice.csv");
        Assert.Equal(403, csv.Status);
    }

    [SkippableFact]
    public async Task A_hardware_mismatch_is_shown_with_the_rate_actually_billed()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "a10g-small");
        await core.RunAsync("alice/app", "run-1", "t4-small", "Tesla T4");
        await LoginAsync(page, TestCore.AliceToken);
        await page.GotoAsync("/spaces/alice/app");
        var warning = await TextAsync(page, "#mismatch");
        Assert.Contains("a10g-small", warning);
        Assert.Contains("t4-small", warning);
        Assert.Contains("billed as t4-small", warning);
        // The badge shows what the runner really has, flagged, not the requested A10G.
        Assert.Equal("⚠ T4 · 16 GB", await TextAsync(page, "#badge-mismatch"));
        await ShotAsync(page, "space-mismatch");
    }

    [SkippableFact]
    public async Task Held_events_and_dead_letters_are_listed_with_why()
    {
        var (core, ctx, page) = await OpenAsync();
        await using var _ = core;
        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.RunAsync("alice/app", "run-1", "t4-small");
        await core.PostAsync("/api/spaces/alice/app/pause", TestCore.AliceToken);
        core.Clock.Advance(TimeSpan.FromSeconds(1));
        await core.RunnerAsync("alice/app", "runs", "run-2", new { host = "test" }, expect: 202); // held: the Space is paused
        await LoginAsync(page, TestCore.AliceToken);
        await page.GotoAsync("/spaces/alice/app");
        Assert.Contains("PAUSED", await TextAsync(page, "#held-events"));
        Assert.Equal(0, await page.Locator("#dead-letters").CountAsync());

        core.Clock.Advance(TimeSpan.FromMinutes(11)); // past the 10 min hold bound
        await ((GpuRunner.Core.Services.CoreService)core.App.Services.GetService(typeof(GpuRunner.Core.Services.CoreService))!).TickAsync();
        await page.GotoAsync("/spaces/alice/app");
        Assert.Equal(0, await page.Locator("#held-events").CountAsync());
        var dead = await TextAsync(page, "#dead-letters");
        Assert.Contains("run-2", dead);
        Assert.Contains("held 10 min without fitting", dead);
        await ShotAsync(page, "space-dead-letters");
    }
}
