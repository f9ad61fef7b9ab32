using System.Text.Json;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Tests;

/// <summary>The HTTP API against a real Kestrel on loopback, on SQLite and on PostgreSQL.</summary>
public class ApiTests
{
    private static readonly HttpMethod Get = HttpMethod.Get, Post = HttpMethod.Post, Delete = HttpMethod.Delete;

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task HubShapesCreateRuntimeHardwareDelete(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        var created = await c.CreateSpaceAsync();
        Assert.Equal($"{c.BaseUrl}spaces/alice/app", created.GetProperty("url").GetString());
        await c.ExpectAsync(409, Post, "api/repos/create", TestCore.Alice, new { name = "app", type = "space", sdk = "gradio" });

        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("BUILDING", rt.GetProperty("stage").GetString());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("hardware").GetProperty("current").ValueKind);
        Assert.Equal("t4-medium", rt.GetProperty("hardware").GetProperty("requested").GetString());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("gcTimeout").ValueKind);
        Assert.False(rt.GetProperty("devMode").GetBoolean());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("storage").ValueKind);
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("volumes").ValueKind);

        var hw = await c.ExpectAsync(200, Get, "api/spaces/hardware", null);
        var t4 = hw.EnumerateArray().Single(h => h.GetProperty("name").GetString() == "t4-small");
        Assert.Equal(10_000, t4.GetProperty("unitCostMicroUSD").GetInt64());
        Assert.Equal(0.01m, t4.GetProperty("unitCostUSD").GetDecimal());
        Assert.Equal("minute", t4.GetProperty("unitLabel").GetString());
        Assert.Equal("1", t4.GetProperty("accelerator").GetProperty("quantity").GetString());
        Assert.Equal("T4", t4.GetProperty("accelerator").GetProperty("model").GetString());
        Assert.Equal(JsonValueKind.Null, hw.EnumerateArray().Single(h => h.GetProperty("name").GetString() == "cpu-basic").GetProperty("accelerator").ValueKind);

        var after = await c.ExpectAsync(200, Post, "api/spaces/alice/app/hardware", TestCore.Alice, new { flavor = "a10g-small", sleepTimeSeconds = 3600 });
        Assert.Equal("a10g-small", after.GetProperty("hardware").GetProperty("requested").GetString());
        Assert.Equal(3600, after.GetProperty("gcTimeout").GetInt64());
        var slept = await c.ExpectAsync(200, Post, "api/spaces/alice/app/sleeptime", TestCore.Alice, new { seconds = -1 });
        Assert.Equal(-1, slept.GetProperty("gcTimeout").GetInt64());
        Assert.Equal("PAUSED", (await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice)).GetProperty("stage").GetString());
        Assert.Equal("BUILDING", (await c.ExpectAsync(200, Post, "api/spaces/alice/app/restart?factory=true", TestCore.Alice)).GetProperty("stage").GetString());

        await c.ExpectAsync(200, Delete, "api/repos/delete", TestCore.Alice, new { name = "app", organization = "alice", type = "space" });
        await c.ExpectAsync(404, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        await c.CreateSpaceAsync(); // the name is free again
    }

    [SkippableTheory, InlineData("sqlite")]
    public async Task ErrorsAreJsonAndProblemJsonWhenAsked(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        using (var plain = await c.SendAsync(Get, "api/spaces/alice/nope/runtime", TestCore.Alice))
            Assert.Equal("application/json", plain.Content.Headers.ContentType!.MediaType);
        using var req = new HttpRequestMessage(Get, new Uri(c.BaseUrl, "api/spaces/alice/nope/runtime"));
        req.Headers.Authorization = new("Bearer", TestCore.Alice);
        req.Headers.Accept.ParseAdd("application/problem+json");
        using var problem = await c.Http.SendAsync(req);
        Assert.Equal(404, (int)problem.StatusCode);
        Assert.Equal("application/problem+json", problem.Content.Headers.ContentType!.MediaType);
        Assert.Contains("\"error\":", await problem.Content.ReadAsStringAsync());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task PublicUrlIsUsedWhenConfigured(string db)
    {
        await using var c = await TestCore.StartAsync(db, o => o.PublicUrl = "https://core.example.org/");
        var created = await c.CreateSpaceAsync();
        Assert.Equal("https://core.example.org/spaces/alice/app", created.GetProperty("url").GetString());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task AuthMatrix(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.CreateSpaceAsync("other");
        var runnerOwn = (await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        var runnerOther = (await c.ExpectAsync(200, Post, "api/spaces/alice/other/tokens", TestCore.Alice)).GetProperty("token").GetString()!;

        // runtime: owner and own runner read; another user or another Space's runner cannot; no token is 401.
        await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", runnerOwn);
        await c.ExpectAsync(403, Get, "api/spaces/alice/app/runtime", TestCore.Bob);
        await c.ExpectAsync(403, Get, "api/spaces/alice/app/runtime", runnerOther);
        await c.ExpectAsync(401, Get, "api/spaces/alice/app/runtime", null);
        await c.ExpectAsync(401, Get, "api/spaces/alice/app/runtime", "not-a-token");

        // owner-only actions
        foreach (var token in new[] { TestCore.Bob, runnerOwn, runnerOther })
        {
            await c.ExpectAsync(403, Post, "api/spaces/alice/app/pause", token);
            await c.ExpectAsync(403, Post, "api/spaces/alice/app/restart", token);
            await c.ExpectAsync(403, Post, "api/spaces/alice/app/hardware", token, new { flavor = "t4-small" });
            await c.ExpectAsync(403, Post, "api/spaces/alice/app/sleeptime", token, new { seconds = 600 });
            await c.ExpectAsync(403, Post, "api/spaces/alice/app/tokens", token);
        }
        await c.ExpectAsync(401, Post, "api/spaces/alice/app/pause", null);
        await c.ExpectAsync(403, Post, "api/repos/create", TestCore.Bob, new { name = "x", organization = "alice", type = "space", sdk = "docker" });
        await c.ExpectAsync(403, Post, "api/repos/create", runnerOwn, new { name = "x", type = "space", sdk = "docker" });
        await c.ExpectAsync(403, Delete, "api/repos/delete", TestCore.Bob, new { name = "app", organization = "alice", type = "space" });

        // runner routes: own runner and owner report; another Space's runner and other users cannot.
        await c.RunnerAsync("runs", new() { ["host"] = "h" }, runnerOwn);
        await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() }, TestCore.Alice);
        await c.RunnerAsync("heartbeat", new(), runnerOther, status: 403);
        await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, runnerOther, status: 403);
        await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, TestCore.Bob, status: 403);
        await c.RunnerAsync("heartbeat", new(), TestCore.Bob, status: 403);
        await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, null!, status: 401);
        await c.ExpectAsync(401, Post, "api/runner/spaces/alice/app/stage", null, raw: "{"); // auth before the body

        // usage: owner yes, others no; owner invoices only for oneself or an admin
        await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app", TestCore.Alice);
        await c.ExpectAsync(403, Get, "api/usage/spaces/alice/app", TestCore.Bob);
        await c.ExpectAsync(200, Get, "api/usage/owners/alice", TestCore.Alice);
        await c.ExpectAsync(200, Get, "api/usage/owners/alice", TestCore.Admin);
        await c.ExpectAsync(403, Get, "api/usage/owners/alice", TestCore.Bob);
        await c.ExpectAsync(403, Get, "api/usage/owners/alice", runnerOwn);
        // grants: admin only
        var grant = new { flavor = "t4-medium", from = "2026-11-01T00:00:00Z", to = "2026-12-01T00:00:00Z" };
        await c.ExpectAsync(403, Post, "api/spaces/alice/app/grants", TestCore.Alice, grant);
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/grants", TestCore.Admin, grant);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task RetriesAreAcknowledgedAndAppliedOnce(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        var hb = new Dictionary<string, object?> { ["eventId"] = "hb-1", ["at"] = c.At(), ["runId"] = "run-1", ["gpus"] = new[] { new { index = 0, utilizationPct = 50 } } };
        Assert.False((await c.RunnerAsync("heartbeat", new(hb))).GetProperty("duplicate").GetBoolean());
        Assert.True((await c.RunnerAsync("heartbeat", new(hb))).GetProperty("duplicate").GetBoolean());
        var exit = new Dictionary<string, object?> { ["eventId"] = "exit-1", ["at"] = c.At(), ["runId"] = "run-1", ["exitCode"] = 1, ["stderrTail"] = "boom" };
        c.Clock.Advance(TimeSpan.FromMinutes(10));
        exit["at"] = c.At();
        Assert.False((await c.RunnerAsync("exit", new(exit))).GetProperty("duplicate").GetBoolean());
        // The retry would be illegal if applied again (the Space is paused now): it is acknowledged instead.
        var again = await c.RunnerAsync("exit", new(exit));
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        // Concurrent retries of one new event: exactly one applies.
        var burst = new Dictionary<string, object?> { ["eventId"] = "hb-burst", ["at"] = c.At(), ["runId"] = "run-1" };
        var acks = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => c.RunnerAsync("heartbeat", new(burst))));
        Assert.Equal(1, acks.Count(a => !a.GetProperty("duplicate").GetBoolean()));
        var events = await c.Store.EventsAsync("alice/app");
        Assert.Single(events, e => e.EventId == "hb-1");
        Assert.Single(events, e => e.EventId == "exit-1");
        Assert.Single(events, e => e.EventId == "hb-burst");
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal(600.0m, Assert.Single(ledger.EnumerateArray()).GetProperty("seconds").GetDecimal());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task ABatchAnswersEachEventAsItsOwnRouteWould(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        object E(string route, Dictionary<string, object?> body)
        {
            body.TryAdd("eventId", c.NextEventId());
            body.TryAdd("at", c.At());
            body.TryAdd("runId", "run-1");
            return new { route, body };
        }
        var hb = new Dictionary<string, object?> { ["eventId"] = "hb-1", ["gpus"] = new[] { new { index = 0, utilizationPct = 50 } } };
        var events = new[]
        {
            E("runs", new() { ["host"] = "h" }),
            E("stage", new() { ["stage"] = "RUNNING" }),                                      // 202: held (no APP_STARTING yet)
            E("stage", new() { ["stage"] = "APP_STARTING" }),                                 // 200, and the RUNNING now fits
            E("heartbeat", hb),
            E("heartbeat", new(hb)),                                                          // the same event again: duplicate
            E("stage", new() { ["stage"] = "FLYING" }),                                       // 400
            E("heartbeat", new() { ["at"] = c.At(TimeSpan.FromHours(-25)) }),                 // 409 stale
            E("exit", new() { ["exitCode"] = "one" }),                                        // 400 (type)
            new { route = "teleport", body = new { } },                                       // 400 (route)
            E("heartbeat", new()),                                                            // 200
        };
        var r = await c.ExpectAsync(200, Post, "api/runner/spaces/alice/app/batch", TestCore.Alice, new { events });
        var results = r.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal([200, 202, 200, 200, 200, 400, 409, 400, 400, 200], results.Select(x => x.GetProperty("status").GetInt32()));
        Assert.Contains("BUILDING -> RUNNING", results[1].GetProperty("held").GetString());
        Assert.Equal("RUNNING", results[2].GetProperty("stage").GetString());
        Assert.False(results[3].GetProperty("duplicate").GetBoolean());
        Assert.True(results[4].GetProperty("duplicate").GetBoolean());
        Assert.Equal("stale_event", results[6].GetProperty("code").GetString());
        Assert.Contains("teleport", results[8].GetProperty("error").GetString());
        Assert.All(results.Where(x => x.GetProperty("status").GetInt32() >= 400), x => Assert.False(string.IsNullOrEmpty(x.GetProperty("error").GetString())));
        Assert.Equal("RUNNING", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());
        Assert.Single(await c.Store.EventsAsync("alice/app"), e => e.EventId == "hb-1");

        // Whole-request refusals: no token, not a list, too many, another Space's runner token (per entry: 403).
        await c.ExpectAsync(401, Post, "api/runner/spaces/alice/app/batch", null, new { events });
        await c.ExpectAsync(400, Post, "api/runner/spaces/alice/app/batch", TestCore.Alice, new { events = 5 });
        await c.ExpectAsync(400, Post, "api/runner/spaces/alice/app/batch", TestCore.Alice,
            new { events = Enumerable.Range(0, 1001).Select(_ => new { route = "heartbeat", body = new { } }) });
        await c.CreateSpaceAsync("other");
        var foreign = (await c.ExpectAsync(200, Post, "api/spaces/alice/other/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        var denied = await c.ExpectAsync(200, Post, "api/runner/spaces/alice/app/batch", foreign, new { events = new[] { E("heartbeat", new()) } });
        Assert.Equal(403, denied.GetProperty("results")[0].GetProperty("status").GetInt32());

        // Through the runner client: results in order, with the acks and the core's messages.
        using var runner = new GpuRunner.Client.RunnerClient(c.BaseUrl, "alice/app", TestCore.Alice);
        var sent = await runner.SendBatchAsync([
            (GpuRunner.Client.RunnerRoute.Heartbeat, $$"""{"eventId":"hb-2","at":"{{c.At()}}","runId":"run-1","gpus":[]}"""),
            (GpuRunner.Client.RunnerRoute.Stage, $$"""{"eventId":"x","at":"{{c.At()}}","runId":"run-1","stage":"PAUSED"}"""),
            (GpuRunner.Client.RunnerRoute.Heartbeat, $$"""{"eventId":"hb-2","at":"{{c.At()}}","runId":"run-1","gpus":[]}"""),
        ]);
        Assert.Equal([200, 400, 200], sent.Select(x => x.Status));
        Assert.Equal([false, true], new[] { sent[0].Ack!.Duplicate, sent[2].Ack!.Duplicate });
        Assert.Contains("core answered 400", sent[1].Error);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task LateEventIsReplayedWithCompensatingRows(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync(); // t4-medium
        c.Clock.Advance(TimeSpan.FromMinutes(61));
        var t0 = TimeSpan.FromMinutes(-60);
        await c.RunnerAsync("runs", new() { ["at"] = c.At(t0), ["host"] = "h" });
        await c.RunnerAsync("stage", new() { ["at"] = c.At(t0), ["stage"] = "APP_STARTING" });
        await c.RunnerAsync("stage", new() { ["at"] = c.At(TimeSpan.FromMinutes(-50)), ["stage"] = "RUNNING" });
        await c.RunnerAsync("exit", new() { ["at"] = c.At(TimeSpan.FromMinutes(-10)), ["exitCode"] = 2 });
        var before = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app", TestCore.Alice);
        Assert.Equal(600_000, before.GetProperty("owedMicroUSD").GetInt64()); // 40 min x $0.90/h

        // The device report from 30 minutes ago arrives late: the runner was on a T4 small all along from then.
        var device = new Dictionary<string, object?>
        {
            ["at"] = c.At(TimeSpan.FromMinutes(-30)),
            ["report"] = new { schema = "gpurunner.report/1", tier = new { flavor = "t4-small", exact = true, summary = "matches t4-small" } },
        };
        await c.RunnerAsync("device", device);
        var after = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app", TestCore.Alice);
        Assert.Equal(300_000 + 200_000, after.GetProperty("owedMicroUSD").GetInt64()); // 20 min t4-medium + 20 min t4-small
        var ledger = (await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice)).EnumerateArray().ToArray();
        Assert.Equal(4, ledger.Length); // original, its compensation, two corrected rows
        Assert.Single(ledger, r => r.GetProperty("sign").GetInt32() == -1 && r.GetProperty("seconds").GetDecimal() == 2400);
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("t4-small", rt.GetProperty("hardwareMismatch").GetProperty("detected").GetString());
        Assert.Equal("PAUSED", rt.GetProperty("stage").GetString());

        // Too old and too far in the future are refused with a clear error.
        var stale = await c.RunnerAsync("heartbeat", new() { ["at"] = c.At(TimeSpan.FromHours(-25)) }, status: 409);
        Assert.Contains("late window", stale.GetProperty("error").GetString());
        var future = await c.RunnerAsync("heartbeat", new() { ["at"] = c.At(TimeSpan.FromMinutes(10)) }, status: 422);
        Assert.Contains("future", future.GetProperty("error").GetString());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task LateEventThatDoesNotFitIsHeldAndNothingChanges(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        c.Clock.Advance(TimeSpan.FromMinutes(5));
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice);
        // A STOPPED report dated before the pause, from a run that was never registered: stored and held (202), in
        // case the run's registration is late too; nothing changes.
        var r = await c.RunnerAsync("stage", new() { ["eventId"] = "held-1", ["at"] = c.At(TimeSpan.FromMinutes(-1)), ["stage"] = "STOPPED", ["runId"] = "run-2" }, status: 202);
        Assert.Contains("run-2", r.GetProperty("held").GetString());
        Assert.Equal("PAUSED", r.GetProperty("stage").GetString());
        Assert.False(r.GetProperty("duplicate").GetBoolean());
        // Its retry is a duplicate, like any other event's, and still held (202, with the same why).
        var again = await c.RunnerAsync("stage", new() { ["eventId"] = "held-1", ["at"] = c.At(TimeSpan.FromMinutes(-1)), ["stage"] = "STOPPED", ["runId"] = "run-2" }, status: 202);
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal(r.GetProperty("held").GetString(), again.GetProperty("held").GetString());
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal(300.0m, Assert.Single(ledger.EnumerateArray()).GetProperty("seconds").GetDecimal());
        Assert.Equal("PAUSED", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task OutOfOrderDeliveryEndsLikeInOrderDelivery(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync("inorder");
        await c.CreateSpaceAsync("shuffled");
        c.Clock.Advance(TimeSpan.FromMinutes(61));
        // One run, as the runner made it (minutes before now): 40 min RUNNING, a clean stop.
        var run = new (string Id, string Route, double Minute, Dictionary<string, object?> Body)[]
        {
            ("runs", "runs", -60, new() { ["host"] = "h" }),
            ("device", "device", -59, new() { ["report"] = new { tier = new { flavor = "t4-medium", summary = "matches t4-medium" } } }),
            ("starting", "stage", -59, new() { ["stage"] = "APP_STARTING" }),
            ("running", "stage", -50, new() { ["stage"] = "RUNNING" }),
            ("hb-1", "heartbeat", -40, new() { ["gpus"] = Array.Empty<object>() }),
            ("hb-2", "heartbeat", -20, new() { ["gpus"] = Array.Empty<object>() }),
            ("stopped", "stage", -10, new() { ["stage"] = "STOPPED" }),
            ("exit", "exit", -10, new() { ["exitCode"] = 0 }),
        };
        Task<JsonElement> Send(string space, int i, int status = 200)
        {
            var (id, route, minute, body) = run[i];
            var b = new Dictionary<string, object?>(body) { ["eventId"] = id, ["at"] = c.At(TimeSpan.FromMinutes(minute)) };
            return c.RunnerAsync(route, b, space: "alice/" + space, status: status);
        }
        for (var i = 0; i < run.Length; i++) await Send("inorder", i);

        // The same events, the end first and the start last (as after a network partition and a retry storm).
        Assert.Contains("not registered", (await Send("shuffled", 6, 202)).GetProperty("held").GetString()); // STOPPED
        await Send("shuffled", 5);                                                                           // a heartbeat
        await Send("shuffled", 0);                                                                           // runs
        Assert.Contains("BUILDING -> RUNNING", (await Send("shuffled", 3, 202)).GetProperty("held").GetString());
        // The exit fits what has arrived so far (after the run's own STOPPED, before its start-up: nothing changes) ...
        Assert.Equal("BUILDING", (await Send("shuffled", 7)).GetProperty("stage").GetString());
        Assert.True((await Send("shuffled", 6)).GetProperty("duplicate").GetBoolean());                     // a retry
        await Send("shuffled", 4);
        await Send("shuffled", 1);
        // ... and the late APP_STARTING re-folds the run: everything fits, the run ended with a clean stop.
        Assert.Equal("STOPPED", (await Send("shuffled", 2)).GetProperty("stage").GetString());

        var a = await c.ExpectAsync(200, Get, "api/spaces/alice/inorder/runtime", TestCore.Alice);
        var b = await c.ExpectAsync(200, Get, "api/spaces/alice/shuffled/runtime", TestCore.Alice);
        foreach (var key in new[] { "stage", "hardware", "stageSince", "runId", "lastHeartbeat", "detectedHardware", "hardwareMismatch", "billing", "pauseReason", "errorMessage" })
            Assert.Equal(a.GetProperty(key).GetRawText(), b.GetProperty(key).GetRawText());
        Assert.Equal("STOPPED", a.GetProperty("stage").GetString());
        var ia = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/inorder?period=2026-11", TestCore.Alice);
        var ib = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/shuffled?period=2026-11", TestCore.Alice);
        Assert.Equal(600_000, ia.GetProperty("owedMicroUSD").GetInt64()); // 40 min x $0.90/h
        Assert.Equal(ia.GetProperty("owedMicroUSD").GetInt64(), ib.GetProperty("owedMicroUSD").GetInt64());
        static string[] Net(JsonElement ledger) => ledger.EnumerateArray()
            .GroupBy(r => (r.GetProperty("start").GetString(), r.GetProperty("end").GetString(), r.GetProperty("billedFlavor").GetString()))
            .Where(g => g.Sum(r => r.GetProperty("sign").GetInt32()) != 0)
            .Select(g => $"{g.Key} x{g.Sum(r => r.GetProperty("sign").GetInt32())}").Order().ToArray();
        Assert.Equal(Net(await c.ExpectAsync(200, Get, "api/usage/spaces/alice/inorder/ledger", TestCore.Alice)),
            Net(await c.ExpectAsync(200, Get, "api/usage/spaces/alice/shuffled/ledger", TestCore.Alice)));
        Assert.Equal(run.Length, (await c.Store.EventsAsync("alice/shuffled")).Count(e => e.Source == "run:run-1")); // each stored once

        // Outside the window the answer is still a refusal, for stage events as for heartbeats.
        var stale = await c.RunnerAsync("stage", new() { ["at"] = c.At(TimeSpan.FromHours(-25)), ["stage"] = "RUNNING" }, space: "alice/shuffled", status: 409);
        Assert.Equal("stale_event", stale.GetProperty("code").GetString());
        Assert.Contains("late window", stale.GetProperty("error").GetString());
        var future = await c.RunnerAsync("exit", new() { ["at"] = c.At(TimeSpan.FromMinutes(10)), ["exitCode"] = 1 }, space: "alice/shuffled", status: 422);
        Assert.Contains("future", future.GetProperty("error").GetString());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task IllegalTransitionsAndBrokenRules(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.CreateSpaceAsync("free", hardware: null);
        await c.RunnerAsync("runs", new() { ["host"] = "h" });
        // A runner's move that does not fit is held (202; its APP_STARTING may still arrive late), never applied.
        var e = await c.RunnerAsync("stage", new() { ["stage"] = "RUNNING" }, status: 202);
        Assert.Contains("BUILDING -> RUNNING", e.GetProperty("held").GetString());
        Assert.Equal("BUILDING", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());

        c.Clock.Advance(TimeSpan.FromMinutes(1));
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice);
        Assert.Contains("PAUSED -> APP_STARTING", (await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, status: 202)).GetProperty("held").GetString());
        await c.RunnerAsync("runs", new() { ["runId"] = "run-2" }, status: 202);
        Assert.Equal("PAUSED", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());

        var rule = await c.ExpectAsync(422, Post, "api/spaces/alice/free/sleeptime", TestCore.Alice, new { seconds = 3600 });
        Assert.Contains("cannot be set", rule.GetProperty("error").GetString());
        await c.ExpectAsync(422, Post, "api/spaces/alice/app/hardware", TestCore.Alice, new { flavor = "cpu-basic", sleepTimeSeconds = 600 });
        await c.ExpectAsync(400, Post, "api/spaces/alice/app/sleeptime", TestCore.Alice, new { seconds = 5 });
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task BadBodiesAreNever500(string db)
    {
        await using var c = await TestCore.StartAsync(db, o => o.MaxBodyBytes = 64 * 1024);
        await c.CreateSpaceAsync();
        await c.RunnerAsync("runs", new() { ["host"] = "h" });
        var runner = "api/runner/spaces/alice/app/";
        var cases = new (string Path, string Raw, int Status)[]
        {
            (runner + "stage", "{", 400),
            (runner + "stage", "", 400),
            (runner + "stage", "[]", 400),
            (runner + "stage", "null", 400),
            (runner + "stage", """{"at":"2026-11-10T12:00:00Z","runId":"run-1","stage":"APP_STARTING"}""", 400),           // no eventId
            (runner + "stage", """{"eventId":"x","runId":"run-1","stage":"APP_STARTING"}""", 400),                         // no at
            (runner + "stage", """{"eventId":"x","at":"yesterday","runId":"run-1","stage":"APP_STARTING"}""", 400),        // bad time
            (runner + "stage", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","stage":"FLYING"}""", 400),    // bad stage
            (runner + "stage", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","stage":"PAUSED"}""", 400),    // not a runner stage
            (runner + "exit", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","exitCode":"one"}""", 400),
            (runner + "exit", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1"}""", 400),
            (runner + "device", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","report":{}}""", 400),
            (runner + "device", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","report":5}""", 400),
            (runner + "heartbeat", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","gpus":{}}""", 400),
            ("api/runner/spaces/alice/a%20b/heartbeat", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1"}""", 400),
            ("api/runner/spaces/alice/nope/heartbeat", """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1"}""", 404),
            ("api/spaces/alice/app/hardware", """{"flavor":"h900"}""", 400),
            ("api/spaces/alice/app/hardware", """{"flavor":null}""", 400),
            ("api/spaces/alice/app/hardware", """{"flavor":"t4-small","sleepTimeSeconds":"soon"}""", 400),
            ("api/spaces/alice/app/sleeptime", """{}""", 400),
            ("api/spaces/alice/app/sleeptime", """{"seconds":1e99}""", 400),
            ("api/repos/create", """{"name":"m","type":"model"}""", 400),
            ("api/repos/create", """{"name":"m","type":"space","sdk":"rails"}""", 400),
            ("api/repos/create", """{"type":"space","sdk":"docker"}""", 400),
            ("api/repos/create", """{"name":"a/b","type":"space","sdk":"docker"}""", 400),
            ("api/spaces/alice/app/grants", """{"flavor":"t4-small","from":"2026-11-02T00:00:00Z","to":"2026-11-01T00:00:00Z"}""", 403), // auth first
        };
        foreach (var (path, raw, status) in cases)
        {
            try { await c.ExpectAsync(status, Post, path, TestCore.Alice, raw: raw); }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"case {path} {raw[..Math.Min(raw.Length, 80)]}: {e.Message}"); }
        }
        await c.ExpectAsync(400, Post, "api/spaces/alice/app/grants", TestCore.Admin,
            raw: """{"flavor":"t4-small","from":"2026-11-02T00:00:00Z","to":"2026-11-01T00:00:00Z"}""");
        await c.ExpectAsync(400, Get, "api/usage/spaces/alice/app?period=2026-13", TestCore.Alice);
        await c.ExpectAsync(400, Get, "api/usage/spaces/alice/app?format=xml", TestCore.Alice);
        await c.ExpectAsync(400, Get, "api/usage/spaces/alice/app?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", TestCore.Alice);
        await c.ExpectAsync(404, Get, "api/no/such/route", TestCore.Alice);
        // Last: Kestrel closes the connection after refusing an oversized body.
        await c.ExpectAsync(413, Post, runner + "heartbeat", TestCore.Alice,
            raw: """{"eventId":"x","at":"2026-11-10T12:00:00Z","runId":"run-1","gpus":[]}""" + new string(' ', 70_000));
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task IssueScenarioThroughTheApi_120MinutesAt090IsOneEighty(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/sleeptime", TestCore.Alice, new { seconds = 1800 });
        await c.UpAsync();
        var s = c.Service;
        // Runs 90 min with heartbeats and visits (so it doesn't sleep yet) ...
        for (var m = 0; m < 90; m += 1)
        {
            c.Clock.Advance(TimeSpan.FromMinutes(1));
            await c.RunnerAsync("heartbeat", new());
            if ((m + 1) % 20 == 0 && m + 1 <= 60) await c.ExpectAsync(200, Post, "api/spaces/alice/app/visit", null);
        }
        // ... no visit since minute 60: sleep is due at 90 (60 + 30 min).
        Assert.Equal(1, await s.TickAsync());
        Assert.Equal("STOPPED", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());
        c.Clock.Advance(TimeSpan.FromMinutes(30));
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/visit", null); // wakes
        await c.RunnerAsync("stage", new() { ["stage"] = "RUNNING" });
        c.Clock.Advance(TimeSpan.FromMinutes(30));
        await c.RunnerAsync("stage", new() { ["stage"] = "RUNTIME_ERROR", ["message"] = "CUDA out of memory" });
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("PAUSED", rt.GetProperty("stage").GetString());
        Assert.Contains("CUDA out of memory", rt.GetProperty("pauseReason").GetString());

        var inv = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app?period=2026-11", TestCore.Alice);
        var line = Assert.Single(inv.GetProperty("lines").EnumerateArray());
        Assert.Equal(120, line.GetProperty("minutes").GetInt64());
        Assert.Equal(1_800_000, inv.GetProperty("owedMicroUSD").GetInt64());
        Assert.Equal(1.8m, inv.GetProperty("owedUSD").GetDecimal());
        var csv = await (await c.SendAsync(Get, "api/usage/owners/alice?period=2026-11&format=csv", TestCore.Alice)).Content.ReadAsStringAsync();
        Assert.Contains("alice/app,alice,t4-medium,0.90,7200", csv);
        Assert.Contains("TOTAL,,,,,,1.80,0.00,1.80", csv);
        // A grant for the month: charges still recorded, nothing owed.
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/grants", TestCore.Admin, new { flavor = "t4-medium", from = "2026-11-01T00:00:00Z", to = "2026-12-01T00:00:00Z" });
        var granted = await c.ExpectAsync(200, Get, "api/usage/owners/alice?period=2026-11", TestCore.Alice);
        Assert.Equal(1_800_000, granted.GetProperty("chargedMicroUSD").GetInt64());
        Assert.Equal(0, granted.GetProperty("owedMicroUSD").GetInt64());
        // Another month has nothing.
        Assert.Equal(0, (await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app?period=2026-10", TestCore.Alice)).GetProperty("lines").GetArrayLength());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task LostHeartbeatsAutoPauseThroughTheBackgroundService(string db)
    {
        await using var c = await TestCore.StartAsync(db, o => { o.RunTimeRules = true; o.TickInterval = TimeSpan.FromMilliseconds(50); });
        await c.CreateSpaceAsync();
        await c.UpAsync();
        // A heartbeat every minute (within the 90 s lease), so the real-timer service cannot fire in between.
        for (var m = 0; m < 3; m++)
        {
            c.Clock.Advance(TimeSpan.FromMinutes(1));
            await c.RunnerAsync("heartbeat", new());
        }
        var cur = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/current", TestCore.Alice);
        Assert.True(cur.GetProperty("billing").GetBoolean());
        Assert.Equal(3, Assert.Single(cur.GetProperty("lines").EnumerateArray()).GetProperty("minutes").GetInt64());
        c.Clock.Advance(TimeSpan.FromMinutes(10)); // > 90 s lease: the real-timer service notices on its next tick
        JsonElement rt = default;
        for (var i = 0; i < 200; i++)
        {
            rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
            if (rt.GetProperty("stage").GetString() == "PAUSED") break;
            await Task.Delay(50);
        }
        Assert.Equal("PAUSED", rt.GetProperty("stage").GetString());
        Assert.Contains("no heartbeat", rt.GetProperty("errorMessage").GetString());
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        // Closed at the last heartbeat (3 min), not at the time the failure was noticed (13 min).
        Assert.Equal(180.0m, Assert.Single(ledger.EnumerateArray()).GetProperty("seconds").GetDecimal());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task RunnerTokenWorksForItsSpaceAndIsStoredHashed(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        var token = (await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        Assert.StartsWith("grr_", token);
        Assert.True(token.Length >= 40);
        await c.UpAsync(token: token);
        var who = await c.ExpectAsync(200, Get, "api/whoami-v2", token);
        Assert.Equal("runner", who.GetProperty("type").GetString());
        var p = await c.Store.FindTokenAsync(Services.Tokens.Hash(token));
        Assert.Equal("alice/app", p!.SpaceId);
        Assert.Null(await c.Store.FindTokenAsync(token)); // the plain token is not a key
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task TheCoreBillsTheDeviceFactsWithItsOwnCatalogue(string db)
    {
        // This core's catalogue names and prices flavors its own way; the runner's (the built-in one) calls a T4
        // host "t4-small", a name this core has never heard of.
        var catalogue = new HardwareCatalogue([
            new Flavor("cpu-basic", "CPU basic", "2 vCPU", "16 GB", "50 GB", null, 0),
            new Flavor("nv-t4", "T4", "4 vCPU", "15 GB", "50 GB", new Accelerator("gpu", "T4", 1, "16 GB", "Nvidia"), 500_000),
            new Flavor("nv-a10g", "A10G", "4 vCPU", "15 GB", "110 GB", new Accelerator("gpu", "A10G", 1, "24 GB", "Nvidia"), 1_200_000),
        ]);
        await using var c = await TestCore.StartAsync(db, o => o.Catalogue = catalogue);
        await c.CreateSpaceAsync(hardware: "nv-a10g");
        await c.RunnerAsync("runs", new() { ["host"] = "h" });
        var report = new
        {
            schema = "gpurunner.report/1",
            host = new { vcpu = 4, memoryBytes = 16_106_127_360L },
            gpus = new[] { new { index = 0, name = "Tesla T4", memoryTotalMiB = 15360 } },
            tier = new { flavor = "t4-small", exact = true, summary = "matches t4-small" },
        };
        await c.RunnerAsync("device", new() { ["report"] = report });
        await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" });
        await c.RunnerAsync("stage", new() { ["stage"] = "RUNNING" });
        c.Clock.Advance(TimeSpan.FromMinutes(60));
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        var mm = rt.GetProperty("hardwareMismatch");
        Assert.Equal(("nv-a10g", "nv-t4", "nv-t4"), (mm.GetProperty("requested").GetString(), mm.GetProperty("detected").GetString(), mm.GetProperty("billedAs").GetString()));
        Assert.Contains("Tesla T4", mm.GetProperty("summary").GetString());
        Assert.Equal(500_000, rt.GetProperty("billing").GetProperty("hourlyMicroUSD").GetInt64()); // not $1.20, not $0
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice);
        var inv = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app?period=2026-11", TestCore.Alice);
        var line = Assert.Single(inv.GetProperty("lines").EnumerateArray());
        Assert.Equal(("nv-t4", 500_000L), (line.GetProperty("flavor").GetString(), line.GetProperty("owedMicroUSD").GetInt64()));

        // Figures of the wrong type and GPU entries that are not objects are refused at the door (400), never a 500,
        // and never stored where a page would trip on them.
        await c.RunnerAsync("device", new() { ["report"] = new { gpus = new[] { new { name = "Tesla T4", memoryTotalMiB = "lots" } }, host = new { vcpu = "four" } } }, status: 400);
        await c.RunnerAsync("device", new() { ["report"] = new { gpus = new[] { 5 } } }, status: 400);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task RunnerTokensAreListedByIdAndRevokedAtOnceByTheOwnerOnly(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.CreateSpaceAsync("other");
        var issued = await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice);
        var (token, id) = (issued.GetProperty("token").GetString()!, issued.GetProperty("id").GetString()!);
        var keep = (await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        var otherSpace = (await c.ExpectAsync(200, Post, "api/spaces/alice/other/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        Assert.Equal(token[..8], issued.GetProperty("prefix").GetString());
        await c.UpAsync(token: token); // used (and cached by the core) before it is revoked

        var list = await c.ExpectAsync(200, Get, "api/spaces/alice/app/tokens", TestCore.Alice);
        Assert.Equal(2, list.GetArrayLength());
        var mine = list.EnumerateArray().Single(t => t.GetProperty("id").GetString() == id);
        Assert.Equal((token[..8], "alice", "runner"), (mine.GetProperty("prefix").GetString(), mine.GetProperty("createdBy").GetString(), mine.GetProperty("kind").GetString()));
        Assert.DoesNotContain(token, list.GetRawText());
        Assert.DoesNotContain(keep, list.GetRawText());
        Assert.DoesNotContain(Services.Tokens.Hash(token), list.GetRawText());

        // Who may list and revoke: the owner only. Another user, the Space's own runner, another Space's runner: 403.
        foreach (var who in new[] { TestCore.Bob, token, otherSpace, TestCore.Admin })
        {
            await c.ExpectAsync(403, Get, "api/spaces/alice/app/tokens", who);
            await c.ExpectAsync(403, Delete, $"api/spaces/alice/app/tokens/{id}", who);
        }
        await c.ExpectAsync(401, Delete, $"api/spaces/alice/app/tokens/{id}", null);
        await c.ExpectAsync(404, Delete, "api/spaces/alice/other/tokens/" + id, TestCore.Alice); // not that Space's token
        await c.ExpectAsync(404, Delete, "api/spaces/alice/app/tokens/000000000000", TestCore.Alice);

        var revoked = await c.ExpectAsync(200, Delete, $"api/spaces/alice/app/tokens/{id}", TestCore.Alice);
        Assert.True(revoked.GetProperty("revoked").GetBoolean());
        // At once: the very next request with it is a 401, on runner routes and reads alike.
        var denied = await c.RunnerAsync("heartbeat", new(), token, status: 401);
        Assert.Contains("revoked", denied.GetProperty("error").GetString());
        await c.ExpectAsync(401, Get, "api/spaces/alice/app/runtime", token);
        await c.RunnerAsync("heartbeat", new(), keep); // the other token still works
        Assert.Equal(1, (await c.ExpectAsync(200, Get, "api/spaces/alice/app/tokens", TestCore.Alice)).GetArrayLength());
        await c.ExpectAsync(404, Delete, $"api/spaces/alice/app/tokens/{id}", TestCore.Alice); // already gone

        // The client and its checks.
        using var client = new GpuRunner.Client.SpacesClient(c.BaseUrl, TestCore.Alice);
        var (t2, id2) = await client.IssueRunnerTokenWithIdAsync("alice/app");
        Assert.Equal(Services.Tokens.Id(Services.Tokens.Hash(t2)), id2);
        Assert.Equal(2, (await client.ListRunnerTokensAsync("alice/app")).GetArrayLength());
        Assert.Equal(id2, (await client.RevokeRunnerTokenAsync("alice/app", id2)).GetProperty("id").GetString());
        await Assert.ThrowsAsync<ArgumentException>(() => client.RevokeRunnerTokenAsync("alice/app", "../x"));
        var gone = await Assert.ThrowsAsync<GpuRunner.Client.SpacesApiException>(() => client.RevokeRunnerTokenAsync("alice/app", id2));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, gone.Status);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task SpacesClientAndMismatchInRuntime(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        using var client = new GpuRunner.Client.SpacesClient(c.BaseUrl, TestCore.Alice);
        await client.CreateAsync("alice/gpu", "docker", "a10g-small", null);
        var token = await client.IssueRunnerTokenAsync("alice/gpu");
        await c.UpAsync("alice/gpu", token);
        await c.RunnerAsync("device", new() { ["report"] = new { tier = new { flavor = (string?)null, summary = "no tier in the catalogue matches: 1x H200 141 GB" } } }, token, "alice/gpu");
        var rt = await client.RuntimeAsync("alice/gpu");
        var mm = rt.GetProperty("hardwareMismatch");
        Assert.Equal("a10g-small", mm.GetProperty("requested").GetString());
        Assert.Equal("unmatched", mm.GetProperty("billedAs").GetString());
        Assert.Equal(0, rt.GetProperty("billing").GetProperty("hourlyMicroUSD").GetInt64());
        var ex = await Assert.ThrowsAsync<GpuRunner.Client.SpacesApiException>(() => client.SetSleepTimeAsync("alice/gpu", 10));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, ex.Status);
        Assert.Contains("sleep time must be", ex.Message);
        var hw = await client.ListHardwareAsync();
        Assert.Equal(7, hw.GetArrayLength());
    }
}
