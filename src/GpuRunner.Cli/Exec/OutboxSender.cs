using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>Exponential backoff with "equal jitter": the n-th consecutive failure waits a random time in
/// [d/2, d] where d = min(Cap, Base·2^(n-1)). The floor keeps a dead core from being hammered; the jitter keeps many
/// runners that lost the same core from retrying in lockstep.</summary>
public sealed record BackoffPolicy(TimeSpan Base, TimeSpan Cap)
{
    public static readonly BackoffPolicy Default = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

    public TimeSpan Delay(int failures, Random rng)
    {
        if (failures < 1) return TimeSpan.Zero;
        var exp = Base.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        var d = Math.Min(Cap.TotalMilliseconds, exp);
        return TimeSpan.FromMilliseconds(d / 2 + rng.NextDouble() * d / 2);
    }
}

/// <summary>Sends one stored body; a RunnerClient in production, a fake in tests.</summary>
public delegate Task<RunnerAck> SendEvent(RunnerRoute route, string body, CancellationToken ct);

/// <summary>Sends several stored bodies in one request (RunnerClient.SendBatchAsync); one result per body, in order.</summary>
public delegate Task<IReadOnlyList<RunnerBatchResult>> SendBatch(IReadOnlyList<(RunnerRoute Route, string Json)> events, CancellationToken ct);

/// <summary>
/// Drains an <see cref="Outbox"/> strictly in order (a stage change must not overtake the one before it). An event is
/// deleted only after a 2xx (a duplicate is an acknowledgement too). A transient failure (no answer, 408, 429, 5xx)
/// or a configuration failure (401/403/404) keeps the event and waits with backoff; a permanent rejection
/// (400/409/413/422) parks it as a dead letter with the core's reason, logs it, and moves on. Nothing here throws
/// at the app: the workload runs on whether or not the core answers. With <paramref name="sendBatch"/>, a backlog (two
/// events or more, e.g. after an outage) goes up to <paramref name="maxBatch"/> events per request, still in order:
/// each entry is answered on its own and handled as above; the first entry to fail transiently stops the round (it
/// and the ones after it are kept and resent; the core deduplicates). A core without the batch route (404) is sent
/// one event at a time from then on.
/// </summary>
public sealed class OutboxSender(Outbox outbox, SendEvent send, Action<string> log, BackoffPolicy? policy = null, Random? rng = null,
    SendBatch? sendBatch = null, int maxBatch = 200)
{
    private bool _batching = sendBatch is not null;
    private readonly BackoffPolicy _policy = policy ?? BackoffPolicy.Default;
    private readonly Random _rng = rng ?? Random.Shared;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _failures;
    private string? _lastLoggedError;
    private DateTimeOffset? _outageSince;

    public int Delivered { get; private set; }
    /// <summary>Delivered events the core answered as held (202): stored there but not applied, with its reason logged.</summary>
    public int HeldByCore { get; private set; }
    public int Parked { get; private set; }
    /// <summary>Consecutive failed attempts on the current head event (0 when the core is answering).</summary>
    public int ConsecutiveFailures => _failures;

    /// <summary>Tells the sender that a new event was stored (ends an idle wait, never a backoff).</summary>
    public void Notify()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    /// <summary>The background loop: sends whatever is pending, sleeps when empty or backing off. Ends on cancel.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var outcome = await TrySendHeadAsync(ct);
                if (outcome == Outcome.Empty)
                    await _wake.WaitAsync(TimeSpan.FromSeconds(30), ct); // also picks up what another process stored
                else if (outcome == Outcome.Failed)
                    await Task.Delay(_policy.Delay(_failures, _rng), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        }
    }

    /// <summary>
    /// Sends everything pending, retrying with backoff (each wait cut to what is left of <paramref name="budget"/>),
    /// until the outbox is empty or the budget is spent. Do not run it while <see cref="RunAsync"/> is running.
    /// Returns the number of events still pending.
    /// </summary>
    public async Task<int> FlushAsync(TimeSpan budget, CancellationToken ct = default)
    {
        var deadline = DateTimeOffset.UtcNow + budget;
        while (!ct.IsCancellationRequested)
        {
            var left = deadline - DateTimeOffset.UtcNow;
            if (left <= TimeSpan.Zero) break;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(left);
            try
            {
                var outcome = await TrySendHeadAsync(cts.Token);
                if (outcome == Outcome.Empty) return 0;
                if (outcome == Outcome.Failed)
                    await Task.Delay(Min(_policy.Delay(_failures, _rng), deadline - DateTimeOffset.UtcNow), cts.Token);
            }
            catch (OperationCanceledException) { break; }
        }
        return outbox.PendingCount();
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => TimeSpan.FromTicks(Math.Max(0, Math.Min(a.Ticks, b.Ticks)));

    private enum Outcome { Empty, Sent, Parked, Failed }

    private async Task<Outcome> TrySendHeadAsync(CancellationToken ct)
    {
        var pending = outbox.Pending(_batching ? maxBatch : 1);
        if (pending.Count == 0) return Outcome.Empty;
        if (pending.Count > 1) return await TrySendBatchAsync(pending, ct);
        var head = pending[0];
        try
        {
            OnDelivered(head, await send(head.Route, head.Body, ct));
            return Outcome.Sent;
        }
        catch (RunnerApiException e) when (e.IsPermanentRejection)
        {
            Park(head, e.StatusCode, e.Message);
            return Outcome.Parked;
        }
        catch (RunnerApiException e)
        {
            Fail(head, e);
            return Outcome.Failed;
        }
    }

    private async Task<Outcome> TrySendBatchAsync(IReadOnlyList<OutboxEvent> pending, CancellationToken ct)
    {
        IReadOnlyList<RunnerBatchResult> results;
        try { results = await sendBatch!(pending.Select(e => (e.Route, e.Body)).ToList(), ct); }
        catch (RunnerApiException e) when (e.StatusCode is 404 or 405 || e.IsPermanentRejection)
        {
            // An older core (no batch route) or one that refuses the request as a whole: one at a time from now on.
            _batching = false;
            log($"core refused a batch ({e.Message}); sending one event at a time");
            return Outcome.Sent;
        }
        catch (RunnerApiException e)
        {
            Fail(pending[0], e);
            return Outcome.Failed;
        }
        for (var i = 0; i < pending.Count; i++)
        {
            var (ev, r) = (pending[i], results[i]);
            if (r.Delivered) { OnDelivered(ev, r.Ack!); continue; }
            var e = new RunnerApiException(r.Error ?? $"core answered {r.Status}", r.Status);
            if (e.IsPermanentRejection) { Park(ev, r.Status, e.Message); continue; }
            Fail(ev, e); // keep it and everything after it, in order
            return Outcome.Failed;
        }
        return Outcome.Sent;
    }

    private void OnDelivered(OutboxEvent ev, RunnerAck ack)
    {
        outbox.Acknowledge(ev.Seq);
        Delivered++;
        if (ack.Held is { } why && !ack.Duplicate)
        {
            HeldByCore++;
            log($"core holds event {ev.EventId} ({RunnerClient.PathOf(ev.Route)}): it does not fit the Space's history (yet): {why}");
        }
        if (_failures > 0)
        {
            var pending = outbox.PendingCount();
            var since = _outageSince is { } s ? $" after {(DateTimeOffset.UtcNow - s).TotalSeconds:0} s" : "";
            log($"core reachable again{since}; delivering held events ({pending} still pending)");
        }
        _failures = 0;
        _lastLoggedError = null;
        _outageSince = null;
    }

    private void Park(OutboxEvent ev, int? status, string message)
    {
        outbox.Park(ev.Seq, status, message, DateTimeOffset.UtcNow);
        Parked++;
        log($"core refused event {ev.EventId} ({RunnerClient.PathOf(ev.Route)}) for good, parked as a dead letter in {outbox.Location}: {message}");
    }

    private void Fail(OutboxEvent ev, RunnerApiException e)
    {
        outbox.RecordFailure(ev.Seq, e.Message);
        _failures++;
        _outageSince ??= DateTimeOffset.UtcNow;
        if (e.Message != _lastLoggedError)
        {
            var hint = e.IsConfiguration ? " (check --core/--space/--token)" : "";
            log($"{e.Message}{hint}; the app keeps running, {outbox.PendingCount()} event(s) held and retried with backoff");
            _lastLoggedError = e.Message;
        }
    }
}
