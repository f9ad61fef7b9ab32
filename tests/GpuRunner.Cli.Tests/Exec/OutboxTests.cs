using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Client;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>A stand-in for the core's dedupe rule: applies an event id once, acknowledges repeats as duplicates.</summary>
internal sealed class DedupingSink
{
    public readonly List<string> Applied = new();
    /// <summary>Every applied event, in order: its route and body.</summary>
    public readonly List<(RunnerRoute Route, JsonElement Body)> Events = new();
    public int Calls;
    /// <summary>Decides the fate of call number n (1-based) before it is applied; null lets it through.</summary>
    public Func<int, string, RunnerApiException?> Fail = (_, _) => null;
    /// <summary>Applies the event and then loses the acknowledgement (the core crashed after its commit).</summary>
    public Func<int, bool> LoseAck = _ => false;

    public IReadOnlyList<string> Stages()
    {
        lock (Events)
            return Events.Where(e => e.Route == RunnerRoute.Stage).Select(e => e.Body.GetProperty("stage").GetString()!).ToList();
    }

    public IReadOnlyList<JsonElement> Of(RunnerRoute route)
    {
        lock (Events) return Events.Where(e => e.Route == route).Select(e => e.Body).ToList();
    }

    /// <summary>Batch requests made, with their sizes.</summary>
    public readonly List<int> Batches = new();
    /// <summary>Per entry of a batch (by event id): a failure status to answer instead of applying it.</summary>
    public Func<string, int?> FailEntry = _ => null;
    /// <summary>Fails a whole batch request (e.g. an older core without the route: 404).</summary>
    public Func<int, RunnerApiException?> FailBatch = _ => null;

    public Task<IReadOnlyList<RunnerBatchResult>> SendBatch(IReadOnlyList<(RunnerRoute Route, string Json)> events, CancellationToken ct)
    {
        Batches.Add(events.Count);
        if (FailBatch(Batches.Count) is { } e) throw e;
        var results = new List<RunnerBatchResult>();
        foreach (var (route, json) in events)
        {
            var id = JsonDocument.Parse(json).RootElement.GetProperty("eventId").GetString()!;
            if (FailEntry(id) is { } status) { results.Add(new RunnerBatchResult(status, null, $"core answered {status}: no")); continue; }
            var duplicate = Applied.Contains(id);
            if (!duplicate)
                lock (Events) { Applied.Add(id); Events.Add((route, JsonDocument.Parse(json).RootElement.Clone())); }
            results.Add(new RunnerBatchResult(200, new RunnerAck(duplicate), null));
        }
        return Task.FromResult<IReadOnlyList<RunnerBatchResult>>(results);
    }

    public Task<RunnerAck> Send(RunnerRoute route, string body, CancellationToken ct)
    {
        var n = Interlocked.Increment(ref Calls);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("eventId").GetString()!;
        if (Fail(n, id) is { } e) throw e;
        var duplicate = Applied.Contains(id);
        if (!duplicate)
        {
            lock (Events)
            {
                Applied.Add(id);
                Events.Add((route, JsonDocument.Parse(body).RootElement.Clone()));
            }
        }
        if (LoseAck(n)) throw new RunnerApiException("connection reset", null);
        return Task.FromResult(new RunnerAck(duplicate));
    }
}

public sealed class OutboxTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gpurunner-outbox-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> _log = new();
    private static readonly BackoffPolicy Fast = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5));
    private const string Target = "http://core|ns/app";

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Body(string id) => $$"""{"eventId":"{{id}}","at":"2026-11-28T12:00:00Z","runId":"r1","stage":"RUNNING"}""";

    private Outbox Open() => Outbox.Open(_dir, Target);

    [Fact]
    public void EventsSurviveAReopenInOrderWithTheirIds()
    {
        using (var box = Open())
        {
            box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
            box.Add(RunnerRoute.Heartbeat, "e2", Body("e2"), DateTimeOffset.UtcNow);
        } // the process "dies" here

        using var reopened = Open();
        Assert.Equal(2, reopened.PendingCount());
        var head = reopened.Head()!;
        Assert.Equal(("e1", RunnerRoute.Stage, Body("e1")), (head.EventId, head.Route, head.Body));
        reopened.Acknowledge(head.Seq);
        Assert.Equal("e2", reopened.Head()!.EventId);
    }

    [Fact]
    public void AddingTheSameIdTwiceStoresItOnce()
    {
        using var box = Open();
        box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
        box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
        Assert.Equal(1, box.PendingCount());
    }

    [Fact]
    public void TargetsAreKeptApart()
    {
        using (var a = Outbox.Open(_dir, "http://core|ns/a")) a.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
        using var b = Outbox.Open(_dir, "http://core|ns/b");
        Assert.Equal(0, b.PendingCount());
        Assert.Null(b.Head());
    }

    [Fact]
    public async Task TransientFailuresAreRetriedWithTheSameBytesAndDeliveredOnceInOrder()
    {
        using var box = Open();
        for (var i = 1; i <= 5; i++) box.Add(RunnerRoute.Heartbeat, $"e{i}", Body($"e{i}"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink
        {
            // The core is down for the first 4 calls, then answers 503 once more.
            Fail = (n, _) => n <= 4 ? new RunnerApiException("unreachable", null) : n == 6 ? new RunnerApiException("busy", 503) : null,
        };
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast);

        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["e1", "e2", "e3", "e4", "e5"], sink.Applied);
        Assert.Equal(5 + 5, sink.Calls);
        Assert.Equal(0, box.PendingCount());
        // One line when the outage starts (and one per new reason), one when it ends; not one per retry.
        Assert.Contains(_log, l => l.Contains("unreachable") && l.Contains("app keeps running"));
        Assert.Contains(_log, l => l.StartsWith("core reachable again"));
        Assert.True(_log.Count <= 4, string.Join("\n", _log));
    }

    [Fact]
    public async Task ABacklogGoesInBatchesInOrderAndASingleEventAlone()
    {
        using var box = Open();
        for (var i = 1; i <= 450; i++) box.Add(RunnerRoute.Heartbeat, $"e{i}", Body($"e{i}"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink();
        // The default batch size, as the runner uses it (EventRecorder passes none): 200 per request.
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast, sendBatch: sink.SendBatch);
        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal([200, 200, 50], sink.Batches);
        Assert.Equal(Enumerable.Range(1, 450).Select(i => $"e{i}"), sink.Applied);
        Assert.Equal(0, sink.Calls); // no single sends for a backlog
        box.Add(RunnerRoute.Stage, "alone", Body("alone"), DateTimeOffset.UtcNow);
        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, sink.Calls); // one pending event: its own route
        Assert.Equal(3, sink.Batches.Count);
    }

    [Fact]
    public async Task InABatchARejectionIsParkedAndATransientFailureKeepsTheRestForTheNextRound()
    {
        using var box = Open();
        foreach (var id in new[] { "a", "bad", "b", "busy", "c" }) box.Add(RunnerRoute.Stage, id, Body(id), DateTimeOffset.UtcNow);
        var busyOnce = true;
        var sink = new DedupingSink
        {
            FailEntry = id => id == "bad" ? 409 : id == "busy" && busyOnce ? 503 : null,
        };
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast, sendBatch: sink.SendBatch);
        sink.FailBatch = n => { if (n == 2) busyOnce = false; return null; };
        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        // The core answers entries independently (it applied "c"); the sender kept "busy" and everything after it,
        // so the second round resent "busy" and "c" (a duplicate now) and nothing was lost or counted twice.
        Assert.Equal(["a", "b", "c", "busy"], sink.Applied);
        Assert.Equal([5, 2], sink.Batches);
        Assert.Equal(0, box.PendingCount());
        Assert.Equal("bad", Assert.Single(box.DeadLetters()).EventId);
    }

    [Fact]
    public async Task ACoreWithoutTheBatchRouteGetsOneEventAtATime()
    {
        using var box = Open();
        for (var i = 1; i <= 3; i++) box.Add(RunnerRoute.Heartbeat, $"e{i}", Body($"e{i}"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink { FailBatch = _ => new RunnerApiException("POST batch of 3: core answered 404: Not Found", 404) };
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast, sendBatch: sink.SendBatch);
        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["e1", "e2", "e3"], sink.Applied);
        Assert.Equal((1, 3), (sink.Batches.Count, sink.Calls));
        Assert.Contains(_log, l => l.Contains("one event at a time"));
    }

    [Fact]
    public async Task ALostAcknowledgementAfterARestartIsResentAndCountedOnce()
    {
        // From call 2 on the core applies what it gets but the answer never arrives (it dies after each commit).
        var sink = new DedupingSink { LoseAck = n => n >= 2 };
        using (var box = Open())
        {
            box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
            box.Add(RunnerRoute.Stage, "e2", Body("e2"), DateTimeOffset.UtcNow);
            box.Add(RunnerRoute.Stage, "e3", Body("e3"), DateTimeOffset.UtcNow);
            var sender = new OutboxSender(box, sink.Send, _log.Add, Fast);
            using var cts = new CancellationTokenSource();
            var loop = sender.RunAsync(cts.Token);
            await WaitUntil(() => sink.Calls >= 4);
            await cts.CancelAsync(); // the runner is killed mid-outage
            await loop;
        }
        Assert.Equal(["e1", "e2"], sink.Applied);

        sink.LoseAck = _ => false;
        using (var box = Open()) // the next run (or `gpurunner report`) with the same core and space
        {
            Assert.Equal("e2", box.Head()!.EventId);
            var sender = new OutboxSender(box, sink.Send, _log.Add, Fast);
            Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        }
        Assert.Equal(["e1", "e2", "e3"], sink.Applied); // e2 arrived twice, applied once
    }

    [Theory]
    [InlineData(400)]
    [InlineData(409)]
    [InlineData(413)]
    [InlineData(422)]
    public async Task APermanentRejectionIsParkedWithItsReasonAndTheRestFlows(int status)
    {
        using var box = Open();
        box.Add(RunnerRoute.Stage, "bad", Body("bad"), DateTimeOffset.UtcNow);
        box.Add(RunnerRoute.Stage, "good", Body("good"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink
        {
            Fail = (_, id) => id == "bad" ? new RunnerApiException($"POST stage: core answered {status}: illegal transition", status) : null,
        };
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast);

        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["good"], sink.Applied);
        Assert.Equal(2, sink.Calls); // the rejected one was tried once, not forever
        var dead = Assert.Single(box.DeadLetters());
        Assert.Equal(("bad", status, RunnerRoute.Stage), (dead.EventId, dead.Status, dead.Route));
        Assert.Contains("illegal transition", dead.Reason);
        Assert.Contains(_log, l => l.Contains("dead letter") && l.Contains("bad"));

        using var reopened = Open(); // parked letters stay parked across restarts
        Assert.Single(reopened.DeadLetters());
        Assert.Equal(0, reopened.PendingCount());
    }

    [Fact]
    public async Task AHeldEventIsDeliveredAndLoggedNotParked()
    {
        using var box = Open();
        box.Add(RunnerRoute.Stage, "early", Body("early"), DateTimeOffset.UtcNow);
        var sender = new OutboxSender(box, (_, _, _) => Task.FromResult(new RunnerAck(false, "r1", "run 'r1' is not registered")), _log.Add, Fast);

        Assert.Equal(0, await sender.FlushAsync(TimeSpan.FromSeconds(10)));
        Assert.Empty(box.DeadLetters());
        Assert.Contains(_log, l => l.Contains("core holds event early") && l.Contains("not registered"));
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(404)]
    public async Task AuthOrAddressFailuresKeepTheEventForALaterFixedRun(int status)
    {
        using var box = Open();
        box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink { Fail = (_, _) => new RunnerApiException("denied", status) };
        var sender = new OutboxSender(box, sink.Send, _log.Add, Fast);

        Assert.Equal(1, await sender.FlushAsync(TimeSpan.FromMilliseconds(200)));
        Assert.True(sink.Calls > 1);
        Assert.Empty(box.DeadLetters());
        Assert.Contains(_log, l => l.Contains("check --core/--space/--token"));
    }

    [Fact]
    public async Task FlushGivesUpWithinItsBudgetWhenTheCoreStaysDown()
    {
        using var box = Open();
        box.Add(RunnerRoute.Exit, "e1", Body("e1"), DateTimeOffset.UtcNow);
        var sink = new DedupingSink { Fail = (_, _) => new RunnerApiException("unreachable", null) };
        // A long backoff must not stretch the bounded final flush.
        var sender = new OutboxSender(box, sink.Send, _log.Add, new BackoffPolicy(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60)));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(1, await sender.FlushAsync(TimeSpan.FromMilliseconds(300)));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.2, 5);
        Assert.Equal(1, box.PendingCount());
    }

    [Fact]
    public void BackoffGrowsExponentiallyWithJitterAndStaysUnderTheCap()
    {
        var policy = new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var rng = new Random(42);
        for (var n = 1; n <= 40; n++)
        {
            var upper = Math.Min(60, Math.Pow(2, n - 1));
            var seen = Enumerable.Range(0, 200).Select(_ => policy.Delay(n, rng).TotalSeconds).ToList();
            Assert.All(seen, d => Assert.InRange(d, upper / 2, upper));
            Assert.True(seen.Max() - seen.Min() > upper / 4, $"no jitter at n={n}"); // spread, not lockstep
        }
        Assert.Equal(TimeSpan.Zero, policy.Delay(0, rng));
    }

    [Fact]
    public void AnUnwritableDirectoryFallsBackToMemoryAndSaysSo()
    {
        var file = Path.Combine(_dir, "not-a-dir");
        Directory.CreateDirectory(_dir);
        File.WriteAllText(file, "x");
        using var box = Outbox.OpenOrFallback([file], Target, _log.Add);
        Assert.False(box.IsDurable);
        box.Add(RunnerRoute.Stage, "e1", Body("e1"), DateTimeOffset.UtcNow);
        Assert.Equal(1, box.PendingCount());
        Assert.Contains(_log, l => l.Contains("in memory only"));
    }

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 10_000)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }
}
