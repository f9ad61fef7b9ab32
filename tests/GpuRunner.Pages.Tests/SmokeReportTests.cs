using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace GpuRunner.Pages.Tests;

/// <summary>Smoke reports in the core: the Space page's before/after, the hardware fault's billing, the door's checks.</summary>
public sealed class SmokeReportTests
{
    /// <summary>A smoke report as the runner sends it (no samples): the figures the core reads.</summary>
    private static Dictionary<string, object?> Report(string flavor, string gpu, string uuid, double gbs, double spec, long memtestErrors = 0)
    {
        var failed = memtestErrors > 0;
        return new()
        {
            ["schema"] = "gpurunner.smoke/1", ["level"] = "quick", ["expect"] = flavor,
            ["gpus"] = new[] { new { index = 0, name = gpu, uuid, status = failed ? "FAIL" : "PASS" } },
            ["checks"] = new object[]
            {
                new { id = "bandwidth.d2d", gpu = 0, status = "PASS", evidence = "1 GiB x 5", value = gbs, unit = "GB/s", spec, percentOfSpec = Math.Round(gbs / spec * 100, 1) },
                new { id = "memtest", gpu = 0, status = failed ? "FAIL" : "PASS", evidence = $"{memtestErrors} errors in 5.5 GiB", value = 5.5, unit = "GiB", errorCount = memtestErrors },
            },
            ["seconds"] = 9.5, ["verdict"] = failed ? "FAIL" : "PASS",
        };
    }

    private static async Task<HttpClient> LoginAsync(TestCore core, string token)
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(core.Url), Timeout = TimeSpan.FromSeconds(30),
        };
        var csrf = Regex.Match(await http.GetStringAsync("/login"), "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        var res = await http.PostAsync("/login", new FormUrlEncodedContent([new("token", token), new("_csrf", csrf)]));
        Assert.Equal(HttpStatusCode.Redirect, res.StatusCode);
        return http;
    }

    [Fact]
    public async Task The_space_page_shows_before_and_after_the_hardware_change_with_prices_and_who_measured()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/up", "t4-small");
        await core.RunAsync("alice/up", "run-t4", "t4-small");
        await core.RunnerAsync("alice/up", "smoke", "run-t4", new { report = Report("t4-small", "Tesla T4", "GPU-t4", 300, 320) });
        core.Clock.Advance(TimeSpan.FromHours(1));
        await core.PostAsync("/api/spaces/alice/up/hardware", TestCore.AliceToken, new { flavor = "a10g-large" });
        core.Clock.Advance(TimeSpan.FromMinutes(2));
        await core.RunAsync("alice/up", "run-a10g", "a10g-large", "NVIDIA A10G", 23028);
        await core.RunnerAsync("alice/up", "smoke", "run-a10g", new { report = Report("a10g-large", "NVIDIA A10G", "GPU-a10g", 560, 600) });

        using var http = await LoginAsync(core, TestCore.AliceToken);
        var html = await http.GetStringAsync("/spaces/alice/up");
        var card = html[html.IndexOf("id=\"smoke\"", StringComparison.Ordinal)..];
        card = card[..card.IndexOf("</section>", StringComparison.Ordinal)];
        Assert.Contains("id=\"smoke-compare\"", card);
        Assert.DoesNotContain("hardware-fault", card);
        // Before, then after: flavors with their prices, the figures with % of spec, the runs that measured them.
        var compare = card[card.IndexOf("id=\"smoke-compare\"", StringComparison.Ordinal)..];
        Assert.Matches("t4-small.*a10g-large", compare);
        Assert.Matches(@"\$0\.60/h.*\$3\.15/h", compare);
        Assert.Matches("300 GB/s <span class=\"muted\">94 % of spec</span>.*560 GB/s <span class=\"muted\">93 % of spec</span>", compare);
        Assert.Matches("run-t4.*run-a10g", compare);
        Assert.Contains("2026-11-03 09:00 UTC", compare); // when each was measured
        Assert.Contains("2026-11-03 10:02 UTC", compare);
        // The latest report per GPU.
        Assert.Contains("id=\"smoke-latest\"", card);
        Assert.Contains("0 NVIDIA A10G", card);

        // Somebody else's Space: no figures for bob (the owner's and admins' only), refused by the API too.
        using var bob = await LoginAsync(core, TestCore.BobToken);
        Assert.DoesNotContain("id=\"smoke\"", await bob.GetStringAsync("/spaces/alice/up"));
        await core.SendAsync(HttpMethod.Get, "/api/spaces/alice/up/smoke", TestCore.BobToken, expect: 403);
    }

    [Fact]
    public async Task A_failed_smoke_test_is_a_platform_hardware_fault_the_run_is_not_billed_and_the_page_says_what_failed()
    {
        await using var core = await TestCore.StartAsync();
        // alice/late: the same fault, but the core receives it only after the run is RUNNING (time already served).
        foreach (var (id, errors, afterRunning) in new[] { ("alice/bad", 3L, false), ("alice/good", 0L, false), ("alice/late", 3L, true) })
        {
            await core.CreateSpaceAsync(id, "a10g-large");
            await core.RunnerAsync(id, "runs", "r1", new { host = "test" });
            await core.RunnerAsync(id, "device", "r1", new { report = TestCore.DeviceReport("a10g-large", "NVIDIA A10G", 23028) });
            await core.RunnerAsync(id, "stage", "r1", new { stage = "APP_STARTING" });
            if (!afterRunning) await core.RunnerAsync(id, "smoke", "r1", new { report = Report("a10g-large", "NVIDIA A10G", "GPU-a10g", 560, 600, errors) });
            await core.RunnerAsync(id, "stage", "r1", new { stage = "RUNNING" });
            if (afterRunning) await core.RunnerAsync(id, "smoke", "r1", new { report = Report("a10g-large", "NVIDIA A10G", "GPU-a10g", 560, 600, errors) });
        }
        core.Clock.Advance(TimeSpan.FromMinutes(30));

        // The same half hour on the same hardware: the healthy run is billed, the faulty one is not.
        var bad = await core.SendAsync(HttpMethod.Get, "/api/usage/spaces/alice/bad", TestCore.AliceToken);
        var good = await core.SendAsync(HttpMethod.Get, "/api/usage/spaces/alice/good", TestCore.AliceToken);
        Assert.Equal(0, bad.GetProperty("owedMicroUSD").GetInt64());
        Assert.Equal(3_150_000 / 2, good.GetProperty("owedMicroUSD").GetInt64());
        var late = await core.SendAsync(HttpMethod.Get, "/api/usage/spaces/alice/late", TestCore.AliceToken);
        Assert.Equal(3_150_000 / 2, late.GetProperty("owedMicroUSD").GetInt64());
        var lateView = await core.SendAsync(HttpMethod.Get, "/api/spaces/alice/late/smoke", TestCore.AliceToken);
        Assert.True(lateView.GetProperty("hardwareFault").GetProperty("billed").GetBoolean()); // shown, but no discount
        var line = Assert.Single(bad.GetProperty("lines").EnumerateArray());
        Assert.Equal("hardware-fault", line.GetProperty("flavor").GetString());

        var view = await core.SendAsync(HttpMethod.Get, "/api/spaces/alice/bad/smoke", TestCore.AliceToken);
        Assert.Equal("GPU 0 memtest: 3 errors in 5.5 GiB", view.GetProperty("hardwareFault").GetProperty("summary").GetString());
        Assert.False(view.GetProperty("hardwareFault").GetProperty("billed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("verified").ValueKind);

        using var http = await LoginAsync(core, TestCore.AliceToken);
        var html = await http.GetStringAsync("/spaces/alice/bad");
        Assert.Matches("id=\"hardware-fault\"[^>]*><strong>Platform hardware fault.</strong>.*GPU 0 memtest: 3 errors in 5.5 GiB.*not billed", html);
        Assert.Contains("5.5 GiB, 3 errors", html);
        Assert.DoesNotContain("id=\"hardware-fault\"", await http.GetStringAsync("/spaces/alice/good"));

        // The operator's fleet: both faulty runs are faults (the app runs on, which must not read as ok), first.
        using var root = await LoginAsync(core, TestCore.RootToken);
        var fleet = await root.GetStringAsync("/admin/fleet");
        var rows = Regex.Matches(fleet, "<tr data-space=\"([^\"]+)\" data-health=\"([a-z]+)\"").Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();
        Assert.Equal([("alice/bad", "fault"), ("alice/late", "fault"), ("alice/good", "silent")], rows);
        Assert.Contains("start-up smoke test: GPU 0 memtest: 3 errors in 5.5 GiB", fleet);
    }

    [Fact]
    public async Task Smoke_reports_and_settings_are_checked_at_the_door_and_a_refusal_stores_nothing()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/door", "t4-small");
        await core.RunAsync("alice/door", "r1", "t4-small");
        var good = Report("t4-small", "Tesla T4", "GPU-t4", 300, 320);

        foreach (var (change, status, code) in new (Action<Dictionary<string, object?>>, int, string)[]
                 {
                     (r => r["schema"] = "gpurunner.report/1", 400, "bad_request"),
                     (r => r.Remove("expect"), 400, "bad_request"),
                     (r => r["verdict"] = "GREAT", 400, "bad_request"),
                     (r => r["gpus"] = "one", 400, "bad_request"),
                     (r => r["trace"] = Enumerable.Repeat(new string('x', 1000), 60).ToArray(), 413, "too_large"),
                 })
        {
            var bad = new Dictionary<string, object?>(good);
            change(bad);
            var refused = await core.RunnerAsync("alice/door", "smoke", "r1", new { report = bad }, expect: status);
            Assert.Equal(code, refused.GetProperty("code").GetString());
        }
        var view = await core.SendAsync(HttpMethod.Get, "/api/spaces/alice/door/smoke", TestCore.AliceToken);
        Assert.Empty(view.GetProperty("reports").EnumerateArray());

        // The smoke level on upgrade: the owner's setting, quick or standard only.
        await core.PostAsync("/api/spaces/alice/door/smoke", TestCore.BobToken, new { upgradeLevel = "standard" }, expect: 403);
        await core.PostAsync("/api/spaces/alice/door/smoke", TestCore.AliceToken, new { upgradeLevel = "fast" }, expect: 400);
        var set = await core.PostAsync("/api/spaces/alice/door/smoke", TestCore.AliceToken, new { upgradeLevel = "standard" });
        Assert.Equal("standard", set.GetProperty("upgradeLevel").GetString());
        var baseline = await core.SendAsync(HttpMethod.Get, "/api/runner/spaces/alice/door/smoke/baseline", TestCore.AliceToken);
        Assert.Equal(("t4-small", "standard"), (baseline.GetProperty("requestedFlavor").GetString(), baseline.GetProperty("upgradeLevel").GetString()));
    }
}
