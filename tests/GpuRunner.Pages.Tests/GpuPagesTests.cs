using System.Net;
using System.Text.RegularExpressions;

namespace GpuRunner.Pages.Tests;

/// <summary>The GPU charts of the Space page and the admins' fleet page, at the HTTP level (manual clock).</summary>
public sealed class GpuPagesTests
{
    private static async Task<HttpClient> LoginAsync(TestCore core, string token)
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
            { BaseAddress = new Uri(core.Url), Timeout = TimeSpan.FromSeconds(30) };
        var csrf = Regex.Match(await http.GetStringAsync("/login"), "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token, ["_csrf"] = csrf });
        Assert.Equal(HttpStatusCode.Redirect, (await http.PostAsync("/login", form)).StatusCode);
        return http;
    }

    private static object Beat(double util, int mem, double power, double temp) =>
        new { gpus = new[] { new { index = 0, utilizationPct = util, memoryUsedMiB = mem, temperatureC = temp, powerW = power, smClockMHz = 1980 } } };

    [Fact]
    public async Task TheSpacePageChartsTheRunAndTheFleetPageShowsTheSickFirst()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/healthy", "a10g-small");
        await core.CreateSpaceAsync("alice/broken", "a10g-small");
        await core.RunAsync("alice/healthy", "r1", "a10g-small", "NVIDIA A10G", 23028);
        await core.RunAsync("alice/broken", "r2", "a10g-small", "NVIDIA A10G", 23028);
        await core.CreateSpaceAsync("alice/wrong", "a10g-small");
        await core.RunAsync("alice/wrong", "r3", "t4-small"); // the platform gave it a T4
        for (var i = 0; i < 5; i++)
        {
            core.Clock.Advance(TimeSpan.FromSeconds(30));
            await core.RunnerAsync("alice/healthy", "heartbeat", "r1", Beat(90 + i, 20000, 280, 65));
            await core.RunnerAsync("alice/broken", "heartbeat", "r2", Beat(50, 10000, 150, 55));
            await core.RunnerAsync("alice/wrong", "heartbeat", "r3", Beat(60, 9000, 60, 50));
        }
        await core.RunnerAsync("alice/healthy", "gpu-event", "r1",
            new { gpu = 0, kind = "throttle", code = 4, @class = "info", fatal = false, message = "power-cap throttling (clock event reason 0x4) at 12:02:30: informational" });
        core.Clock.Advance(TimeSpan.FromSeconds(10));
        await core.RunnerAsync("alice/broken", "gpu-event", "r2",
            new { gpu = 0, kind = "xid", code = 79, @class = "hardware", fatal = true, message = "the GPU fell off the bus (Xid 79) at 12:02:40: hardware fault, not your code" });

        using var alice = await LoginAsync(core, TestCore.AliceToken);
        var page = await alice.GetStringAsync("/spaces/alice/healthy");
        // Four charts for GPU 0, each a line with the five readings; the stage changes and the GPU event marked.
        foreach (var id in new[] { "gpu0-util", "gpu0-mem", "gpu0-power", "gpu0-temp" }) Assert.Contains($"<svg id=\"{id}\"", page);
        var util = Regex.Match(page, "<svg id=\"gpu0-util\".*?</svg>", RegexOptions.Singleline).Value;
        Assert.Equal(5, Regex.Match(util, "<polyline[^>]*points=\"([^\"]*)\"").Groups[1].Value.Trim().Split(' ').Length);
        Assert.Equal(2, Regex.Matches(util, "class=\"marker stage\"").Count); // APP_STARTING and RUNNING
        Assert.Contains("class=\"marker gpu-event\"", util);
        Assert.DoesNotContain("id=\"gpu-fault\"", page);
        var broken = await alice.GetStringAsync("/spaces/alice/broken");
        Assert.Contains("id=\"gpu-fault\"", broken);
        Assert.Contains("Billing closed at", broken);

        // The fleet page is the admins'.
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.GetAsync("/admin/fleet")).StatusCode);
        using var root = await LoginAsync(core, TestCore.RootToken);
        var fleet = await root.GetStringAsync("/admin/fleet");
        var rows = Regex.Matches(fleet, "<tr data-space=\"([^\"]+)\" data-health=\"([a-z]+)\"").Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();
        Assert.Equal([("alice/broken", "fault"), ("alice/wrong", "warning"), ("alice/healthy", "ok")], rows);
        Assert.Contains("detected: t4-small", fleet); // beside the requested hardware's badge
        Assert.Contains("GPU 0: 94% · 20000 MiB · 280 W · 65 °C", WebUtility.HtmlDecode(fleet));
        Assert.Contains("the GPU fell off the bus (Xid 79)", fleet);
    }

    [Fact]
    public async Task TheGpuSeriesGoStaleWithTheirSpace()
    {
        await using var core = await TestCore.StartAsync();
        await core.CreateSpaceAsync("alice/app", "a10g-small");
        await core.RunAsync("alice/app", "r1", "a10g-small", "NVIDIA A10G", 23028);
        await core.RunnerAsync("alice/app", "heartbeat", "r1", Beat(77, 100, 100, 40));
        Assert.Contains("DCGM_FI_DEV_GPU_UTIL{space=\"alice/app\",gpu=\"0\"} 77\n", await core.GetTextAsync("/metrics"));
        core.Clock.Advance(TimeSpan.FromMinutes(6));
        Assert.DoesNotContain("DCGM_FI_DEV_GPU_UTIL{space=\"alice/app\"", await core.GetTextAsync("/metrics"));
    }
}
