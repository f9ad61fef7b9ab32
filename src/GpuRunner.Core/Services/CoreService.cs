using System.Collections.Concurrent;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Services;

/// <summary>Acknowledgement of a runner event. <see cref="Held"/>: stored, but it does not fit the Space's history
/// (yet) — why; it is applied if the events it needs arrive within the late window.</summary>
public sealed record Ack(bool Duplicate, string? RunId, SpaceState? State, string? Held = null);

/// <summary>One runner event as the routes hand it over: a state event, or a heartbeat (Event null, Payload = its GPUs).</summary>
public sealed record RunnerInput(string RunId, string EventId, SpaceEvent? Event, long AtMs, string? Payload, string? Detail);

/// <summary>The answer to one event of a batch: its acknowledgement, or why it was refused.</summary>
public sealed record RunnerOutcome(Ack? Ack, Exception? Refused);

/// <summary>What the HTTP layer asks of the core. Pure domain decisions happen in <see cref="SpaceMachine"/>;
/// this class authorises, dates events on the injected clock, and runs them in the store's writer.</summary>
public sealed class CoreService(ICoreStore store, SpaceMachine machine, TimeProvider clock)
{
    public const string CoreSource = "core";
    private readonly ConcurrentDictionary<string, (Principal? P, long Until)> _tokenCache = new();

    public ICoreStore Store => store;
    public SpaceMachine Machine => machine;
    public TimeProvider Clock => clock;
    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    // ------------------------------------------------------------ users and tokens

    public async Task<Principal?> AuthenticateAsync(string token, CancellationToken ct)
    {
        var hash = Tokens.Hash(token);
        var now = NowMs;
        if (_tokenCache.TryGetValue(hash, out var hit) && hit.Until > now) return hit.P;
        var p = await store.FindTokenAsync(hash, ct);
        // Cache hits and misses briefly: a runner fleet sends thousands of events per second with few tokens.
        if (_tokenCache.Count > 100_000) _tokenCache.Clear();
        _tokenCache[hash] = (p, now + (p is null ? 2_000 : 30_000));
        return p;
    }

    public Task SeedUserAsync(string name, string token, bool admin, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(name) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new LifecycleException(LifecycleErrorKind.BadInput, $"bad user name '{name}'");
        if (token.Length < 8) throw new LifecycleException(LifecycleErrorKind.BadInput, $"token of user '{name}' is too short (8 characters at least)");
        return store.WriteAsync(tx => { tx.UpsertUser(name, admin); tx.InsertToken(Tokens.Hash(token), "user", name, null); return 0; }, ct);
    }

    public Task<string> IssueRunnerTokenAsync(Principal p, string id, CancellationToken ct = default)
    {
        var token = Tokens.New(Tokens.RunnerPrefix);
        return store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "issue runner tokens");
            tx.InsertToken(Tokens.Hash(token), "runner", p.Name, id, Tokens.Prefix(token));
            return token;
        }, ct);
    }

    /// <summary>The Space's runner tokens by id and prefix (owner only); the secrets are not stored, so never shown.</summary>
    public Task<IReadOnlyList<RunnerTokenRow>> ListRunnerTokensAsync(Principal p, string id, CancellationToken ct = default) =>
        store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "list its runner tokens");
            return tx.RunnerTokens(id);
        }, ct);

    /// <summary>
    /// Revokes one runner token of the Space (owner only) by its id (<see cref="Tokens.Id"/>). It is refused (401)
    /// from the next request on: the row is gone and this instance's token cache forgets it. Other core instances
    /// sharing a PostgreSQL database may accept it until their cache entry expires (at most 30 s).
    /// </summary>
    public async Task<RunnerTokenRow> RevokeRunnerTokenAsync(Principal p, string id, string tokenId, CancellationToken ct = default)
    {
        var row = await store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "revoke its runner tokens");
            var t = tx.RunnerTokens(id).FirstOrDefault(r => Tokens.Id(r.Hash) == tokenId)
                    ?? throw new LifecycleException(LifecycleErrorKind.NotFound, $"{id} has no runner token with id '{tokenId}'");
            tx.DeleteRunnerToken(id, t.Hash);
            return t;
        }, ct);
        _tokenCache.TryRemove(row.Hash, out _);
        return row;
    }

    // ------------------------------------------------------------ owner actions (Hub routes)

    public async Task<SpaceState> CreateAsync(Principal p, string ns, string name, string? sdk, string? flavor, long? sleep, CancellationToken ct = default)
    {
        if (p.Kind != PrincipalKind.User) throw Forbidden("a runner token cannot create Spaces");
        if (ns != p.Name && !p.IsAdmin) throw Forbidden($"user '{p.Name}' can create Spaces only in the namespace '{p.Name}', not '{ns}'");
        var id = $"{ns}/{name}";
        var created = new Created(ns, sdk ?? "", flavor ?? machine.Catalogue.Flavors.FirstOrDefault(f => f.IsFree)?.Id ?? HardwareCatalogue.FreeDefault, sleep, Guid.NewGuid().ToString("n")) { AtMs = NowMs };
        var state = machine.Create(id, created); // validates before anything is written
        return await store.WriteAsync(tx =>
        {
            if (tx.GetOwner(id) is not null) throw new LifecycleException(LifecycleErrorKind.Conflict, $"Space {id} already exists");
            tx.InsertSpace(state);
            tx.InsertEvent(new StoredEvent(id, CoreSource, "created:" + state.Uid, "created", created.AtMs, created.AtMs, true, CoreJson.Event(created)));
            return state;
        }, ct);
    }

    public Task<SpaceState> OwnerActionAsync(Principal p, string id, string action, SpaceEvent e, CancellationToken ct = default)
    {
        e = e with { AtMs = NowMs };
        return store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, action);
            return Apply(tx, s, e, CoreSource, Guid.NewGuid().ToString("n")).State;
        }, ct);
    }

    public Task DeleteAsync(Principal p, string id, CancellationToken ct = default)
    {
        var e = new DeleteRequested { AtMs = NowMs };
        return store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "delete it");
            Apply(tx, s, e, CoreSource, Guid.NewGuid().ToString("n")); // closes the open interval into the ledger
            tx.DeleteSpace(id);
            return 0;
        }, ct);
    }

    /// <summary>A visitor (anyone): wakes a sleeping Space and postpones sleep. Repeated visits within a minute to an
    /// awake Space are not stored (they change nothing that matters at minute resolution).</summary>
    public async Task<SpaceState> VisitAsync(string id, CancellationToken ct = default)
    {
        var now = NowMs;
        var s = await store.GetSpaceAsync(id, ct) ?? throw NotFound(id);
        if (s.Stage != Stage.Stopped && s.LastVisitAtMs is { } last && now - last < 60_000) return s;
        var e = new Visited { AtMs = now };
        return await store.WriteAsync(tx =>
        {
            var cur = tx.GetSpace(id) ?? throw NotFound(id);
            return Apply(tx, cur, e, CoreSource, Guid.NewGuid().ToString("n")).State;
        }, ct);
    }

    public async Task<SpaceState> GetAsync(Principal p, string id, CancellationToken ct = default)
    {
        var s = await store.GetSpaceAsync(id, ct) ?? throw NotFound(id);
        p.EnsureCanRead(s);
        return s;
    }

    public Task AddGrantAsync(Principal p, Grant g, CancellationToken ct = default)
    {
        if (!p.IsAdmin) throw Forbidden("only an admin can give community grants");
        machine.Catalogue.Get(g.Flavor);
        if (g.ToMs <= g.FromMs) throw new LifecycleException(LifecycleErrorKind.BadInput, "a grant's 'to' must be after its 'from'");
        return store.WriteAsync(tx => { _ = tx.GetOwner(g.SpaceId) ?? throw NotFound(g.SpaceId); tx.InsertGrant(g); return 0; }, ct);
    }

    // ------------------------------------------------------------ runner events

    /// <summary>
    /// Applies one runner event exactly once: dedup on (Space, "run:" + runId, eventId) in the same transaction that
    /// writes it. Heartbeats only move the last evidence of life; other events go through the stage machine.
    /// </summary>
    public Task<Ack> RunnerEventAsync(Principal p, string id, string runId, string eventId, SpaceEvent? e, long atMs,
        string? payload, string? detail, CancellationToken ct = default) =>
        RunnerEventAsync(p, id, new RunnerInput(runId, eventId, e, atMs, payload, detail), ct);

    public Task<Ack> RunnerEventAsync(Principal p, string id, RunnerInput input, CancellationToken ct = default)
    {
        var now = NowMs;
        Validate(p, id, input, now);
        return store.WriteAsync(tx => ApplyRunner(tx, p, id, input, now), ct);
    }

    /// <summary>
    /// Several runner events of one Space in one round trip and one work item of the writer (so one transaction):
    /// each is validated, deduplicated and applied on its own, in the given order, exactly as if it had come alone;
    /// a refused one does not affect the others. Results are in input order.
    /// </summary>
    public async Task<IReadOnlyList<RunnerOutcome>> RunnerEventsAsync(Principal p, string id, IReadOnlyList<RunnerInput> inputs, CancellationToken ct = default)
    {
        var now = NowMs;
        var results = new RunnerOutcome[inputs.Count];
        var valid = new List<int>(inputs.Count);
        for (var i = 0; i < inputs.Count; i++)
        {
            try { Validate(p, id, inputs[i], now); valid.Add(i); }
            catch (LifecycleException x) { results[i] = new RunnerOutcome(null, x); }
        }
        if (valid.Count == 0) return results;
        // Heartbeats only move the last evidence of life forward (a max), so a batch moves it once, to its newest.
        var newest = long.MinValue;
        foreach (var i in valid) if (inputs[i].Event is null) newest = Math.Max(newest, inputs[i].AtMs);
        await store.WriteAsync(tx =>
        {
            // Heartbeats first, all at once: one existence check + max, then their rows in a few multi-row INSERTs
            // (they commute with everything else: only the last evidence of life depends on them).
            var beats = valid.Where(i => inputs[i].Event is null).ToList();
            if (beats.Count > 0)
            {
                if (!tx.Heartbeat(id, newest))
                    foreach (var i in beats) results[i] = new RunnerOutcome(null, NotFound(id));
                else
                {
                    var fresh = tx.TryInsertEvents(beats.Select(i => new StoredEvent(id, "run:" + inputs[i].RunId, inputs[i].EventId, "heartbeat",
                        inputs[i].AtMs, now, false, inputs[i].Payload)).ToList());
                    for (var k = 0; k < beats.Count; k++)
                        results[beats[k]] = new RunnerOutcome(new Ack(!fresh[k], inputs[beats[k]].RunId, null), null);
                }
            }
            // Then the state events, in order. Each refuses before it writes anything (the store's contract), so a
            // refusal leaves the events before it applied and the transaction sound.
            foreach (var i in valid.Where(i => inputs[i].Event is not null))
            {
                try { results[i] = new RunnerOutcome(ApplyRunner(tx, p, id, inputs[i], now), null); }
                catch (LifecycleException x) { results[i] = new RunnerOutcome(null, x); }
            }
            return 0;
        }, ct);
        return results;
    }

    private void Validate(Principal p, string id, RunnerInput input, long now)
    {
        if (string.IsNullOrWhiteSpace(input.EventId) || input.EventId.Length > 200) throw Bad("eventId is required (at most 200 characters)");
        if (string.IsNullOrWhiteSpace(input.RunId) || input.RunId.Length > 200) throw Bad("runId is required (at most 200 characters)");
        machine.Policy.EnsureTimely(input.AtMs, now);
        if (p.Kind == PrincipalKind.Runner && p.SpaceId != id)
            throw Forbidden($"cannot report for {id} with a runner token of {p.SpaceId}");
        // A Space's owner is its namespace (CreateAsync), so a user is checked without reading the Space.
        if (p.Kind == PrincipalKind.User && p.Name != id[..id.IndexOf('/')])
            throw Forbidden($"cannot report for {id} with user '{p.Name}'");
    }

    private Ack ApplyRunner(IStoreTx tx, Principal p, string id, RunnerInput input, long now)
    {
        var source = "run:" + input.RunId;
        if (input.Event is not { } e)
        {
            // Heartbeats are most of the traffic: two statements. The update goes first because it is the
            // existence check (nothing is written for an unknown Space) and is idempotent (max), so a duplicate
            // that only the insert detects has changed nothing.
            if (!tx.Heartbeat(id, input.AtMs)) throw NotFound(id);
            var fresh = tx.TryInsertEvent(new StoredEvent(id, source, input.EventId, "heartbeat", input.AtMs, now, false, input.Payload));
            return new Ack(!fresh, input.RunId, null);
        }
        var s = tx.GetSpace(id) ?? throw NotFound(id);
        p.EnsureCanReport(s);
        if (tx.EventSeen(id, source, input.EventId)) return new Ack(true, input.RunId, s);
        var (next, held) = Apply(tx, s, e, source, input.EventId, input.Detail, hold: true);
        return new Ack(false, input.RunId, next, held?.Message);
    }

    /// <summary>
    /// Receives a state event through <see cref="SpaceMachine.Receive"/> (the design is in its comment and in README
    /// "Events: nothing lost, nothing counted twice"): the Space's state is always the fold of its stored history in
    /// the canonical order (time, then a run's own order), so a late or out-of-order event is applied in its place
    /// and ends in the same state and net ledger as in-order delivery. The ledger stays append-only: a re-fold books
    /// compensating (-1) rows for intervals that changed and (+1) rows for the corrected ones. With
    /// <paramref name="hold"/> (runner events) an event that does not fit yet is stored and held; otherwise it is
    /// refused before anything is written.
    /// </summary>
    private (SpaceState State, LifecycleException? Held) Apply(IStoreTx tx, SpaceState s, SpaceEvent e, string source, string eventId,
        string? detail = null, bool hold = false)
    {
        var now = tx.NowMs;
        var r = machine.Receive(s, e, hold,
            () => tx.StateEvents(s.Id).Select(x => new LoggedEvent(CoreJson.ReadEvent(x.Payload!), x.Seq)),
            () => tx.Ledger(s.Id, s.Uid).Select(x => new LedgerEntry(x.Interval, x.Sign)));
        tx.InsertEvent(new StoredEvent(s.Id, source, eventId, KindOf(e), e.AtMs, now, true, CoreJson.Event(e), detail));
        tx.UpdateSpace(r.State);
        tx.AppendLedger(r.Ledger.Select(x => new LedgerRow(x.Interval, x.Sign,
            !r.Replayed ? "metered" : x.Sign > 0 ? "metered (late event)" : $"compensation: late {KindOf(e)} at {Time.Format(e.AtMs)}", now)));
        return (r.State, r.Held);
    }

    public static string KindOf(SpaceEvent e) => e switch
    {
        StageReported sr => "stage:" + sr.Stage.ToWire(),
        GpuReported g => "gpu:" + g.Note.Class,
        _ => e.GetType().Name switch
        {
            nameof(RunStarted) => "run", nameof(DeviceReported) => "device", nameof(RunExited) => "exit",
            nameof(HeartbeatsLost) => "heartbeats-lost", nameof(SleepDue) => "sleep", nameof(Visited) => "visit",
            nameof(PauseRequested) => "pause", nameof(RestartRequested) => "restart", nameof(HardwareRequested) => "hardware",
            nameof(SleepTimeSet) => "sleeptime", nameof(DeleteRequested) => "delete", var n => n.ToLowerInvariant(),
        },
    };

    // ------------------------------------------------------------ time rules

    /// <summary>Applies every due time rule (lost heartbeats, sleep) as of the clock's now. Returns how many fired.</summary>
    public async Task<int> TickAsync(CancellationToken ct = default)
    {
        var now = NowMs;
        var fired = 0;
        foreach (var s in await store.ListLiveSpacesAsync(ct))
        {
            if (machine.Due(s, now) is null) continue;
            var applied = await store.WriteAsync(tx =>
            {
                var cur = tx.GetSpace(s.Id);
                if (cur is null || machine.Due(cur, now) is not { } due) return false; // changed meanwhile
                // A deterministic id: two core instances firing the same rule apply it once.
                var id = $"{KindOf(due)}:{due.AtMs}:{cur.RunId}";
                if (tx.EventSeen(cur.Id, CoreSource, id)) return false;
                Apply(tx, cur, due, CoreSource, id);
                return true;
            }, ct);
            if (applied) fired++;
        }
        return fired;
    }

    // ------------------------------------------------------------ usage and invoices

    public async Task<Invoice> InvoiceAsync(string scope, long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default)
    {
        var now = NowMs;
        var totals = (await store.AggregateAsync(fromMs, toMs, spaceId, owner, ct))
            .Select(a => new UsageTotal(a.SpaceId, a.Owner, a.BilledFlavor, a.HourlyMicroUsd, a.MeteredMs, 0)).ToList();
        var grants = await store.GrantsAsync(fromMs, toMs, spaceId, owner, ct);
        if (grants.Count > 0)
        {
            foreach (var sid in grants.Select(g => g.SpaceId).Distinct())
                foreach (var row in await store.LedgerAsync(fromMs, toMs, sid, null, ct))
                {
                    var i = row.Interval;
                    var granted = Invoicing.GrantedMs(i.SpaceId, i.RequestedFlavor, i.StartMs, i.EndMs, fromMs, toMs, grants);
                    if (granted != 0) totals.Add(new UsageTotal(i.SpaceId, i.Owner, i.BilledFlavor, i.HourlyMicroUsd, 0, row.Sign * granted));
                }
        }
        var provisional = false;
        var spaces = spaceId is not null
            ? (await store.GetSpaceAsync(spaceId, ct) is { } one ? [one] : [])
            : await store.ListSpacesAsync(owner, ct);
        foreach (var s in spaces.Where(x => x.Open is not null))
        {
            var o = s.Open!;
            var ms = Invoicing.Overlap(o.StartMs, now, fromMs, toMs);
            if (ms <= 0) continue;
            provisional = true;
            totals.Add(new UsageTotal(s.Id, s.Owner, o.BilledFlavor, o.HourlyMicroUsd, ms,
                Invoicing.GrantedMs(s.Id, o.RequestedFlavor, o.StartMs, now, fromMs, toMs, grants)));
        }
        return Invoicing.Build(scope, fromMs, toMs, totals, provisional);
    }

    /// <summary>Cost of the current run: everything metered since the run registered, the open interval up to now.</summary>
    public async Task<(SpaceState State, Invoice Invoice)> CurrentRunAsync(Principal p, string id, CancellationToken ct = default)
    {
        var s = await GetAsync(p, id, ct);
        var since = s.RunStartedAtMs ?? s.CreatedAtMs;
        return (s, await InvoiceAsync($"run {s.RunId ?? "(none)"} of {id}", since, Math.Max(since, NowMs) + 1, id, null, ct));
    }

    private static LifecycleException NotFound(string id) => new(LifecycleErrorKind.NotFound, $"Space {id} not found");
    private static LifecycleException Forbidden(string m) => new(LifecycleErrorKind.Forbidden, m);
    private static LifecycleException Bad(string m) => new(LifecycleErrorKind.BadInput, m);
}
