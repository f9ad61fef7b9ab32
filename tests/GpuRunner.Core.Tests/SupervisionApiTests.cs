using System.Diagnostics;
using System.Text.Json;

namespace GpuRunner.Core.Tests;

/// <summary>What the core tells runners (GET desired, GET held) and the rules that keep the bill on its own evidence,
/// over HTTP on a ManualClock.</summary>
public class SupervisionApiTests
{
    private static readonly HttpMethod Get = HttpMethod.Get, Post = HttpMethod.Post;

    private static decimal MeteredSeconds(JsonElement ledger) =>
        ledger.EnumerateArray().Sum(r => r.GetProperty("seconds").GetDecimal() * r.GetProperty("sign").GetInt32());

    private static async Task<string> DesiredAsync(TestCore c, string query = "runId=run-1", string token = TestCore.Alice) =>
        (await c.ExpectAsync(200, Get, "api/runner/spaces/alice/app/desired?" + query, token)).GetProperty("desired").GetString()!;

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task ABackdatedStopCannotCutTheBillBelowTheHeartbeatsReceived(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        var start = c.At();
        await c.UpAsync();
        for (var i = 0; i < 60; i++)
        {
            c.Clock.Advance(TimeSpan.FromMinutes(1));
            await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() });
        }
        // The user's container claims the app stopped one second after it became ready.
        var stop = new Dictionary<string, object?> { ["eventId"] = "stop", ["stage"] = "STOPPED", ["at"] = DateTimeOffset.Parse(start).AddSeconds(1).ToString("O") };
        await c.RunnerAsync("stage", new(stop));
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal(3600m, MeteredSeconds(ledger)); // up to the last heartbeat received, not the claimed second
        var stored = (await c.Store.EventsAsync("alice/app")).Single(e => e.EventId == "stop");
        Assert.Contains("not at the claimed", stored.Detail);
        // Its resend is the same event (compared as the runner sent it), so a duplicate, not a conflict.
        Assert.True((await c.RunnerAsync("stage", new(stop))).GetProperty("duplicate").GetBoolean());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task AReusedEventIdWithAnotherPayloadIsAConflict(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        var at = c.At();
        await c.RunnerAsync("runs", new() { ["eventId"] = "r", ["at"] = at, ["host"] = "h" });
        Assert.True((await c.RunnerAsync("runs", new() { ["eventId"] = "r", ["at"] = at, ["host"] = "h" })).GetProperty("duplicate").GetBoolean());
        var x = await c.RunnerAsync("runs", new() { ["eventId"] = "r", ["at"] = at, ["host"] = "other" }, status: 409);
        Assert.Contains("different payload", x.GetProperty("error").GetString());
        await c.RunnerAsync("stage", new() { ["eventId"] = "s", ["at"] = at, ["stage"] = "APP_STARTING" });
        await c.RunnerAsync("stage", new() { ["eventId"] = "s", ["at"] = at, ["stage"] = "RUNNING" }, status: 409);
        await c.RunnerAsync("heartbeat", new() { ["eventId"] = "h", ["at"] = at, ["gpus"] = new[] { new { index = 0 } } });
        await c.RunnerAsync("heartbeat", new() { ["eventId"] = "h", ["at"] = at, ["gpus"] = new[] { new { index = 0 } } });
        await c.RunnerAsync("heartbeat", new() { ["eventId"] = "h", ["at"] = at, ["gpus"] = new[] { new { index = 1 } } }, status: 409);
        await c.RunnerAsync("stage", new() { ["eventId"] = "h", ["at"] = at, ["stage"] = "RUNNING" }, status: 409); // a heartbeat's id
        Assert.Equal("APP_STARTING", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task AHeldEventIsDeadLetteredAfterTheHoldBoundAndListed(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        c.Clock.Advance(TimeSpan.FromMinutes(1));
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice);
        c.Clock.Advance(TimeSpan.FromSeconds(1));
        var held = await c.RunnerAsync("runs", new() { ["runId"] = "run-2", ["eventId"] = "late-run" }, status: 202);
        Assert.Contains("PAUSED", held.GetProperty("held").GetString());
        // Its resend is answered as its first delivery was: a duplicate, still held, and why.
        var again = await c.RunnerAsync("runs", new() { ["runId"] = "run-2", ["eventId"] = "late-run" }, status: 202);
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal(held.GetProperty("held").GetString(), again.GetProperty("held").GetString());

        var list = await c.ExpectAsync(200, Get, "api/runner/spaces/alice/app/held", TestCore.Alice);
        Assert.Equal("late-run", Assert.Single(list.GetProperty("held").EnumerateArray()).GetProperty("eventId").GetString());
        Assert.Empty(list.GetProperty("deadLetters").EnumerateArray());

        c.Clock.Advance(TimeSpan.FromMinutes(9));
        await c.Service.TickAsync();
        Assert.Single((await c.ExpectAsync(200, Get, "api/runner/spaces/alice/app/held", TestCore.Alice)).GetProperty("held").EnumerateArray());
        c.Clock.Advance(TimeSpan.FromMinutes(1.1));
        await c.Service.TickAsync();
        list = await c.ExpectAsync(200, Get, "api/runner/spaces/alice/app/held", TestCore.Admin);
        Assert.Empty(list.GetProperty("held").EnumerateArray());
        var dead = Assert.Single(list.GetProperty("deadLetters").EnumerateArray());
        Assert.Equal(("late-run", "run"), (dead.GetProperty("eventId").GetString(), dead.GetProperty("kind").GetString()));
        Assert.Contains("PAUSED", dead.GetProperty("reason").GetString());
        await c.ExpectAsync(403, Get, "api/runner/spaces/alice/app/held", TestCore.Bob);

        using var metrics = await c.SendAsync(Get, "metrics", null);
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("gpurunner_events_held 0\n", text);
        Assert.Contains("gpurunner_events_dead_letters 1\n", text);
        Assert.Contains("gpurunner_space_dead_letters{space=\"alice/app\"} 1\n", text);
        // Its resend is still recognised (a duplicate), said to be given up on, never applied.
        var late = await c.RunnerAsync("runs", new() { ["runId"] = "run-2", ["eventId"] = "late-run", ["at"] = JsonAt(dead) }, status: 202);
        Assert.True(late.GetProperty("duplicate").GetBoolean());
        Assert.StartsWith("given up on after the hold bound: ", late.GetProperty("held").GetString());
        Assert.Contains("PAUSED", late.GetProperty("held").GetString());
        Assert.Equal("PAUSED", (await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("stage").GetString());
    }

    private static string JsonAt(JsonElement e) => e.GetProperty("at").GetString()!;

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task TheDesiredStateFollowsTheOwnerAndALongPollHearsAChangeAtOnce(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        Assert.Equal("running", await DesiredAsync(c));

        // A long poll that knows "running" waits; the owner's pause answers it.
        var sw = Stopwatch.StartNew();
        var poll = DesiredAsync(c, "runId=run-1&known=running&wait=30");
        await Task.Delay(300);
        Assert.False(poll.IsCompleted);
        c.Clock.Advance(TimeSpan.FromMinutes(5));
        await c.ExpectAsync(200, Post, "api/spaces/alice/app/pause", TestCore.Alice);
        Assert.Equal("paused", await poll.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"{sw.Elapsed}");
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal(300m, MeteredSeconds(ledger)); // closed at the decision's instant

        // The runner's stop that follows is recorded as the pause, not as a crash.
        c.Clock.Advance(TimeSpan.FromSeconds(3));
        await c.RunnerAsync("stage", new() { ["stage"] = "STOPPED", ["message"] = "stopped: paused" });
        await c.RunnerAsync("exit", new() { ["exitCode"] = 143, ["signal"] = "SIGTERM" });
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal(("PAUSED", JsonValueKind.Null), (rt.GetProperty("stage").GetString(), rt.GetProperty("errorMessage").ValueKind));
        Assert.Equal(300m, MeteredSeconds(await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice)));

        await c.ExpectAsync(200, Post, "api/spaces/alice/app/restart", TestCore.Alice);
        Assert.Equal("restart", await DesiredAsync(c));
        Assert.Equal("running", await DesiredAsync(c, "")); // a runner without a live app starts it

        var token = (await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        var deleting = DesiredAsync(c, "known=running&wait=30", token);
        await c.ExpectAsync(200, HttpMethod.Delete, "api/repos/delete", TestCore.Alice, new { type = "space", name = "app" });
        Assert.Equal("deleted", await deleting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("deleted", await DesiredAsync(c, "", token)); // its token went with it: still told, not refused
        await c.ExpectAsync(400, Get, "api/runner/spaces/alice/app/desired?wait=600", TestCore.Alice);
        await c.ExpectAsync(400, Get, "api/runner/spaces/alice/app/desired?known=flying", TestCore.Alice);
        await c.ExpectAsync(401, Get, "api/runner/spaces/alice/app/desired", null);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task ABacklogProvingTheAppRanThroughAPartitionBillsItAndUndoesTheAutoPause(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        var start = c.Clock.GetUtcNow();
        await c.UpAsync();
        c.Clock.Advance(TimeSpan.FromSeconds(30));
        await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() });
        // The core hears nothing for longer than the lease: it concludes the run failed and auto-pauses it.
        c.Clock.Advance(TimeSpan.FromMinutes(3));
        await c.Service.TickAsync();
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("PAUSED", rt.GetProperty("stage").GetString());
        Assert.Equal("paused", await DesiredAsync(c));

        // The network heals; the runner's backlog arrives: heartbeats every 30 s through the gap.
        var batch = Enumerable.Range(2, 7).Select(i => new Dictionary<string, object?>
        {
            ["route"] = "heartbeat",
            ["body"] = new Dictionary<string, object?> { ["eventId"] = $"hb{i}", ["at"] = start.AddSeconds(30 * i).ToString("O"), ["runId"] = "run-1", ["gpus"] = Array.Empty<object>() },
        }).ToArray();
        await c.ExpectAsync(200, Post, "api/runner/spaces/alice/app/batch", TestCore.Alice, new { events = batch });
        rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("errorMessage").ValueKind);
        Assert.Equal("running", await DesiredAsync(c));
        Assert.Equal(0, await c.Service.TickAsync()); // and the rule does not fire again: the evidence is fresh

        // The proven time is billed: the interval the conclusion closed is compensated, the run is billed throughout.
        c.Clock.Advance(TimeSpan.FromSeconds(30));
        await c.RunnerAsync("stage", new() { ["stage"] = "STOPPED" });
        var ledger = await c.ExpectAsync(200, Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal((decimal)(c.Clock.GetUtcNow() - start).TotalSeconds, MeteredSeconds(ledger));
    }
}
