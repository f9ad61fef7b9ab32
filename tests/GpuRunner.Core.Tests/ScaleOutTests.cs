using System.Diagnostics;
using System.Text.Json;
using GpuRunner.Core.Storage;
using Xunit.Abstractions;

namespace GpuRunner.Core.Tests;

/// <summary>Several core instances on one PostgreSQL database (behind a load balancer), and the PostgreSQL writer's
/// own traps (auto-prepared statements).</summary>
public class ScaleOutTests(ITestOutputHelper output)
{
    private static readonly HttpMethod Get = HttpMethod.Get, Post = HttpMethod.Post, Delete = HttpMethod.Delete;

    /// <summary>
    /// The whole runner sequence, many times on one writer connection with auto-prepare on and a low threshold, so
    /// every hot statement is prepared while its nullable parameters are still null (no heartbeat yet) and then
    /// executed with values. Untyped nulls let PostgreSQL infer a narrower type at prepare time (COALESCE(@p, 0) is
    /// integer) and the later 64-bit value failed with 22P03.
    /// </summary>
    [SkippableTheory, InlineData(1), InlineData(5)]
    public async Task RunnerSequenceSurvivesAutoPrepareWithNullsFirst(int minUsages)
    {
        await using var db = TestDb.Create("postgres", b => { b.MaxAutoPrepare = 64; b.AutoPrepareMinUsages = minUsages; });
        await using var c = await TestCore.StartOnAsync(db, new ManualClock(ManualClock.Start));
        for (var i = 0; i < 8; i++) // past the threshold: the 5th use of a statement prepares it by default
        {
            var space = $"alice/app{i}";
            await c.CreateSpaceAsync($"app{i}");
            await c.RunnerAsync("runs", new() { ["host"] = "test" }, space: space);
            await c.RunnerAsync("device", new() { ["report"] = new { schema = "gpurunner.report/1", tier = new { flavor = "t4-medium", exact = true, summary = "matches" } } }, space: space);
            await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, space: space);
            await c.RunnerAsync("stage", new() { ["stage"] = "RUNNING" }, space: space);
            await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() }, space: space);
            var stopped = await c.RunnerAsync("stage", new() { ["stage"] = "STOPPED" }, space: space);
            Assert.Equal("STOPPED", stopped.GetProperty("stage").GetString());
        }
    }

    /// <summary>Two real core instances (Kestrel, each with its own store, writer and pools) on one throw-away schema.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        public required TestDb Db { get; init; }
        public required ManualClock Clock { get; init; }
        public required TestCore A { get; init; }
        public required TestCore B { get; init; }
        public TestCore this[int i] => i == 0 ? A : B;

        public static async Task<Pair> StartAsync(Action<CoreOptions>? configure = null)
        {
            var db = TestDb.Create("postgres");
            var clock = new ManualClock(ManualClock.Start);
            var a = await TestCore.StartOnAsync(db, clock, configure);
            var b = await TestCore.StartOnAsync(db, clock, configure);
            return new Pair { Db = db, Clock = clock, A = a, B = b };
        }

        public static SqlCoreStore Sql(TestCore c) => (SqlCoreStore)c.Store;

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Db.DisposeAsync();
        }
    }

    private static async Task<(int Status, string Body, double Ms)> Timed(TestCore c, HttpMethod m, string path, string? token, object? body = null)
    {
        var t0 = Stopwatch.GetTimestamp();
        using var r = await c.SendAsync(m, path, token, body);
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, text, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    [SkippableFact]
    public async Task RacingCreatesOnTwoInstancesGiveOne200AndOne409()
    {
        await using var p = await Pair.StartAsync();
        for (var i = 0; i < 12; i++)
        {
            var body = new { name = $"race{i}", type = "space", sdk = "gradio", hardware = "t4-small" };
            var both = await Task.WhenAll(Timed(p.A, Post, "api/repos/create", TestCore.Alice, body), Timed(p.B, Post, "api/repos/create", TestCore.Alice, body));
            Assert.True(both.Select(x => x.Status).Order().SequenceEqual([200, 409]), $"race{i}: {string.Join(" | ", both.Select(x => $"{x.Status} {x.Body}"))}");
        }
        Assert.Equal(0, Pair.Sql(p.A).Deadlocks + Pair.Sql(p.B).Deadlocks);
    }

    /// <summary>
    /// Both instances send the same events for overlapping Spaces, one in ascending and the other in descending Space
    /// order, each with several requests in flight (so each writer's transactions hold many Spaces at once): every
    /// event is stored once, the out-of-order stages (RUNNING before APP_STARTING on one side) end in the same state,
    /// nothing answers 5xx, and the database reports no deadlock.
    /// </summary>
    [SkippableFact]
    public async Task OverlappingSpacesInOppositeOrdersOnTwoInstancesNeverDeadlock()
    {
        await using var p = await Pair.StartAsync();
        const int spaces = 8, workers = 12, rounds = 4;
        var ids = Enumerable.Range(0, spaces).Select(i => $"alice/s{i}").ToArray();
        foreach (var i in Enumerable.Range(0, spaces))
        {
            await p.A.CreateSpaceAsync($"s{i}");
            await p.A.RunnerAsync("runs", new() { ["eventId"] = "runs", ["host"] = "test" }, space: ids[i]);
        }
        var at1 = p.A.At(TimeSpan.FromSeconds(1));
        var at2 = p.A.At(TimeSpan.FromSeconds(2));
        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        var slowest = 0.0;
        await Task.WhenAll(Enumerable.Range(0, 2).SelectMany(side => Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            // Each worker starts at another Space, so the writers' batches mix many Spaces in both orders.
            var order = (side == 0 ? ids : ids.Reverse()).Skip(w % spaces).Concat((side == 0 ? ids : ids.Reverse()).Take(w % spaces)).ToArray();
            for (var round = 0; round < rounds; round++)
                foreach (var id in order)
                {
                    // The same two stage events on both sides, in opposite orders; heartbeats that both sides repeat.
                    var stages = new object[]
                    {
                        new { route = "stage", body = new { eventId = "s-start", at = at1, runId = "run-1", stage = "APP_STARTING" } },
                        new { route = "stage", body = new { eventId = "s-run", at = at2, runId = "run-1", stage = "RUNNING" } },
                    };
                    if (side == 1) Array.Reverse(stages);
                    var events = stages.Append(new { route = "heartbeat", body = (object)new { eventId = $"hb-{w}-{round}", at = at2, runId = "run-1" } }).ToArray();
                    var r = await Timed(p[side], Post, $"api/runner/spaces/{id}/batch", TestCore.Alice, new { events });
                    statuses.Add(r.Status);
                    InterlockedMax(ref slowest, r.Ms);
                    if (r.Status != 200) continue;
                    using var doc = JsonDocument.Parse(r.Body);
                    foreach (var e in doc.RootElement.GetProperty("results").EnumerateArray()) statuses.Add(e.GetProperty("status").GetInt32());
                }
        }))));
        output.WriteLine($"slowest answer: {slowest:0} ms; deadlocks {Pair.Sql(p.A).Deadlocks}+{Pair.Sql(p.B).Deadlocks}, retries {Pair.Sql(p.A).Retries}+{Pair.Sql(p.B).Retries}");
        Assert.All(statuses, s => Assert.True(s is 200 or 202, $"status {s}"));
        Assert.Equal(0, Pair.Sql(p.A).Deadlocks + Pair.Sql(p.B).Deadlocks);
        Assert.Equal(0, Pair.Sql(p.A).Retries + Pair.Sql(p.B).Retries);
        foreach (var id in ids)
        {
            var rt = await p.B.ExpectAsync(200, Get, $"api/spaces/{id}/runtime", TestCore.Alice);
            Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
            // created + runs + 2 stages + one row per distinct heartbeat id: nothing lost, nothing twice.
            Assert.Equal(1 + 1 + 2 + workers * rounds, await p.A.Store.CountEventsAsync(id));
        }
    }

    private static void InterlockedMax(ref double target, double value)
    {
        for (var cur = Volatile.Read(ref target); value > cur; cur = Volatile.Read(ref target))
            if (Interlocked.CompareExchange(ref target, value, cur) == cur) return;
    }

    /// <summary>Owner actions raced on two instances: each answers 200 or a refusal (409/404), never 5xx.</summary>
    [SkippableFact]
    public async Task OwnerActionsRacedOnTwoInstancesAnswer409Never500()
    {
        await using var p = await Pair.StartAsync();
        var all = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            await p.A.CreateSpaceAsync($"app{i}");
            var path = $"api/spaces/alice/app{i}";
            var race = await Task.WhenAll(
                Timed(p.A, Post, path + "/pause", TestCore.Alice), Timed(p.B, Post, path + "/restart", TestCore.Alice),
                Timed(p.B, Post, path + "/hardware", TestCore.Alice, new { flavor = "a10g-small" }), Timed(p.A, Post, path + "/pause", TestCore.Alice));
            all.AddRange(race.Select(r => r.Status));
            // delete on one instance, create of the same name on the other
            var dc = await Task.WhenAll(
                Timed(p.A, Delete, "api/repos/delete", TestCore.Alice, new { name = $"app{i}", organization = "alice", type = "space" }),
                Timed(p.B, Post, "api/repos/create", TestCore.Alice, new { name = $"app{i}", type = "space", sdk = "gradio" }));
            Assert.Equal(200, dc[0].Status);
            Assert.True(dc[1].Status is 200 or 409, $"create after/before delete: {dc[1].Status} {dc[1].Body}");
            all.AddRange(dc.Select(r => r.Status));
        }
        Assert.All(all, s => Assert.True(s is 200 or 409, $"status {s}"));
    }

    /// <summary>A token revoked on one instance is refused by the other within a second (the store's notification
    /// drops it from that instance's cache), and deleting a Space drops its runner tokens the same way.</summary>
    [SkippableFact]
    public async Task RevocationAndDeletedSpacesReachTheOtherInstanceWithinASecond()
    {
        await using var p = await Pair.StartAsync();
        await p.A.CreateSpaceAsync();
        var issued = await p.A.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice);
        var (token, tokenId) = (issued.GetProperty("token").GetString()!, issued.GetProperty("id").GetString()!);
        var second = (await p.A.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        await p.B.RunnerAsync("heartbeat", new(), token);  // now cached on B
        await p.B.RunnerAsync("heartbeat", new(), second);

        await p.A.ExpectAsync(200, Delete, $"api/spaces/alice/app/tokens/{tokenId}", TestCore.Alice);
        var seen = await UntilRefusedAsync(p.B, token);
        output.WriteLine($"revocation seen on the other instance after {seen:0} ms");
        Assert.True(seen < 1000, $"the other instance still accepted the revoked token after {seen:0} ms");
        await p.B.RunnerAsync("heartbeat", new(), second); // the other token of the Space still works

        await p.A.ExpectAsync(200, Delete, "api/repos/delete", TestCore.Alice, new { name = "app", organization = "alice", type = "space" });
        seen = await UntilRefusedAsync(p.B, second);
        output.WriteLine($"deleted Space's token refused on the other instance after {seen:0} ms");
        Assert.True(seen < 1000, $"the other instance still accepted the deleted Space's token after {seen:0} ms");
    }

    /// <summary>Milliseconds until <paramref name="c"/> answers 401 to the token (polled; gives up after 5 s).</summary>
    private static async Task<double> UntilRefusedAsync(TestCore c, string token)
    {
        var t0 = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(t0) < TimeSpan.FromSeconds(5))
        {
            using var r = await c.SendAsync(Post, "api/runner/spaces/alice/app/heartbeat", token,
                new { eventId = c.NextEventId(), at = c.At(), runId = "run-1" });
            if ((int)r.StatusCode == 401) return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Assert.True((int)r.StatusCode is 200 or 404, $"unexpected {(int)r.StatusCode}");
            await Task.Delay(10);
        }
        return double.PositiveInfinity;
    }

    /// <summary>
    /// Both instances run the time-rules service; one leads (session advisory lock) and fires the rule once. When the
    /// leader dies its session ends, and the other instance takes over: the next rule fires, also once.
    /// </summary>
    [SkippableFact]
    public async Task TimeRulesFailOverToTheOtherInstanceWhenTheLeaderDies()
    {
        await using var p = await Pair.StartAsync(o => { o.RunTimeRules = true; o.TickInterval = TimeSpan.FromMilliseconds(50); });
        var leader = await UntilAsync(() => Pg(p.A).IsLeader || Pg(p.B).IsLeader ? (Pg(p.A).IsLeader ? 0 : 1) : (int?)null);
        Assert.False(Pg(p.A).IsLeader && Pg(p.B).IsLeader, "two leaders");
        var (first, survivor) = (p[leader], p[1 - leader]);

        await survivor.CreateSpaceAsync("one");
        await survivor.UpAsync("alice/one");
        p.Clock.Advance(TimeSpan.FromMinutes(10)); // > the 90 s heartbeat lease
        await UntilAsync(async () => await StageAsync(survivor, "alice/one") == "PAUSED" ? true : (bool?)null);
        Assert.Equal(1, await CountKindAsync(survivor, "alice/one", "heartbeats-lost"));

        // The leader dies: its store (and the session holding the lock) goes away with it.
        await first.DisposeAsync();
        await survivor.CreateSpaceAsync("two");
        await survivor.UpAsync("alice/two");
        p.Clock.Advance(TimeSpan.FromMinutes(10));
        await UntilAsync(async () => await StageAsync(survivor, "alice/two") == "PAUSED" ? true : (bool?)null);
        Assert.True(Pg(survivor).IsLeader);
        Assert.Equal(1, await CountKindAsync(survivor, "alice/two", "heartbeats-lost"));
        Assert.Equal(1, await CountKindAsync(survivor, "alice/one", "heartbeats-lost"));
    }

    private static PostgresCoreStore Pg(TestCore c) => (PostgresCoreStore)c.Store;

    private static async Task<string?> StageAsync(TestCore c, string id) =>
        (await c.ExpectAsync(200, Get, $"api/spaces/{id}/runtime", TestCore.Alice)).GetProperty("stage").GetString();

    private static async Task<int> CountKindAsync(TestCore c, string id, string kind) =>
        (await c.Store.EventsAsync(id)).Count(e => e.Kind == kind);

    /// <summary>Polls until <paramref name="probe"/> gives a value (deadline 10 s).</summary>
    private static Task<T> UntilAsync<T>(Func<T?> probe) where T : struct => UntilAsync(() => Task.FromResult(probe()));

    private static async Task<T> UntilAsync<T>(Func<Task<T?>> probe) where T : struct
    {
        var t0 = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(t0) < TimeSpan.FromSeconds(10))
        {
            if (await probe() is { } v) return v;
            await Task.Delay(20);
        }
        throw new TimeoutException("condition not reached within 10 s");
    }
}
