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
public sealed class CoreService
{
    public const string CoreSource = "core";
    private readonly ICoreStore store;
    private readonly SpaceMachine machine;
    private readonly TimeProvider clock;
    private readonly TokenCache _tokenCache;

    public CoreService(ICoreStore store, SpaceMachine machine, TimeProvider clock)
    {
        (this.store, this.machine, this.clock) = (store, machine, clock);
        _tokenCache = new TokenCache(clock);
        Throttle = new AuthThrottle(clock);
        // Revocations and deleted Spaces, from this instance's commits and from the other instances' (NOTIFY).
        store.OnInvalidated(InvalidateCaches);
    }

    /// <summary>
    /// The one place cached authentications are dropped: "token:HASH", "space:ID" (its runner tokens) or "*"
    /// (everything). The store calls it for every token or Space its transactions removed, before their callers are
    /// answered, and again on every other instance when the database's notification arrives.
    /// </summary>
    public void InvalidateCaches(string what)
    {
        _tokenCache.Invalidate(what);
        if (what.StartsWith("token:", StringComparison.Ordinal)) Throttle.Forget(what[6..]); // loses its exemption
    }
    /// <summary>Spaces with held events (value: since when), and Spaces failed by lost heartbeats: kept as the writer
    /// applies events, refreshed from the store by <see cref="TickAsync"/> once a minute (another instance's writes).</summary>
    private readonly ConcurrentDictionary<string, long> _held = new();
    private readonly ConcurrentDictionary<string, byte> _lost = new();
    private long _scanDueMs;
    private long _deadLettered;

    /// <summary>Wakes the runners' long polls of a Space that changed.</summary>
    public SpaceSignals Signals { get; } = new();
    /// <summary>Held events this instance moved to the dead-letter list since it started (a /metrics counter).</summary>
    public long DeadLetteredTotal => Interlocked.Read(ref _deadLettered);

    public ICoreStore Store => store;
    public SpaceMachine Machine => machine;
    public TimeProvider Clock => clock;
    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    // ------------------------------------------------------------ users and tokens

    /// <summary>Failed-authentication throttle shared by the API and the login form.</summary>
    public AuthThrottle Throttle { get; init; }

    public async Task<Principal?> AuthenticateAsync(string token, CancellationToken ct)
    {
        // Cached briefly (hits and misses): a runner fleet sends thousands of events per second with few tokens.
        return await _tokenCache.GetAsync(Tokens.Hash(token), store.FindTokenAsync, ct);
    }

    /// <summary>
    /// <see cref="AuthenticateAsync(string, CancellationToken)"/> behind <see cref="Throttle"/>: Throttled (seconds to
    /// wait) when <paramref name="client"/> or the token's prefix failed too often, else the principal (null: refused,
    /// and counted).
    /// </summary>
    public async Task<(Principal? P, long RetryAfterSeconds)> AuthenticateFromAsync(string token, string client, CancellationToken ct)
    {
        var hash = Tokens.Hash(token);
        if (Throttle.RetryAfterSeconds(client, token, hash) is > 0 and var wait) return (null, wait);
        var p = token.Length is < 8 or > Tokens.MaxLength ? null : await AuthenticateAsync(token, ct);
        if (p is null) Throttle.Failed(client, token);
        else Throttle.Succeeded(hash);
        return (p, 0);
    }

    /// <summary>
    /// Makes the stored seeded users match the operator's declaration (--user/--admin): each declared user gets
    /// exactly the declared token as its seeded token (a different one replaces it) and admin as declared; a seeded
    /// user no longer declared loses its seeded token and admin. Named tokens users made themselves stay.
    /// </summary>
    public async Task DeclareSeededUsersAsync(IReadOnlyList<(string Name, string Token, bool Admin)> users, CancellationToken ct = default)
    {
        var declared = new List<SeededUser>();
        foreach (var (name, token, admin) in users)
        {
            ValidateUserName(name);
            if (token.Length is < 8 or > Tokens.MaxLength)
                throw new LifecycleException(LifecycleErrorKind.BadInput, $"token of user '{name}' must be 8 to {Tokens.MaxLength} characters");
            if (declared.Any(d => d.Name == name)) throw new LifecycleException(LifecycleErrorKind.BadInput, $"user '{name}' is declared twice");
            declared.Add(new SeededUser(name, Tokens.Hash(token), admin));
        }
        await store.WriteAsync(tx => tx.DeclareSeededUsers(declared), ct); // drops replaced tokens from the caches
    }

    /// <summary>Kept for callers that seed one user (benchmarks): declares it alongside the users already seeded.</summary>
    public Task SeedUserAsync(string name, string token, bool admin, CancellationToken ct = default)
    {
        ValidateUserName(name);
        if (token.Length is < 8 or > Tokens.MaxLength) throw new LifecycleException(LifecycleErrorKind.BadInput, $"token of user '{name}' is too short (8 characters at least)");
        return store.WriteAsync(tx => { tx.UpsertUser(name, admin); tx.InsertToken(Tokens.Hash(token), "user", name, null, null, Tokens.SeedName); return 0; }, ct);
    }

    private static void ValidateUserName(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 96 || name is "." or ".." || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new LifecycleException(LifecycleErrorKind.BadInput, $"bad user name '{name}'");
    }

    // ------------------------------------------------------------ a user's own named tokens

    /// <summary>A new token for the calling user, with a name of their choice (the secret is in this answer only).</summary>
    public async Task<(string Token, UserTokenRow Row)> IssueUserTokenAsync(Principal p, string name, CancellationToken ct = default)
    {
        EnsureUser(p);
        if (string.IsNullOrWhiteSpace(name) || name.Length > 64 || name == Tokens.SeedName || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw Bad($"a token name is 1-64 letters, digits, '-', '_' or '.' (not '{Tokens.SeedName}'), got '{(name.Length > 64 ? name[..64] + "…" : name)}'");
        var token = Tokens.New(Tokens.UserPrefix);
        var row = await store.WriteAsync(tx =>
        {
            var mine = tx.UserTokens(p.Name);
            if (mine.Any(t => t.Name == name)) throw new LifecycleException(LifecycleErrorKind.Conflict, $"you already have a token named '{name}'");
            if (mine.Count >= Tokens.MaxPerUser) throw new LifecycleException(LifecycleErrorKind.RuleBroken, $"at most {Tokens.MaxPerUser} tokens per user; revoke one first");
            tx.InsertToken(Tokens.Hash(token), "user", p.Name, null, Tokens.Prefix(token), name);
            return new UserTokenRow(Tokens.Hash(token), Tokens.Prefix(token), name, tx.NowMs);
        }, ct);
        return (token, row);
    }

    public Task<IReadOnlyList<UserTokenRow>> ListUserTokensAsync(Principal p, CancellationToken ct = default)
    {
        EnsureUser(p);
        return store.WriteAsync(tx => tx.UserTokens(p.Name), ct);
    }

    /// <summary>Revokes one of the caller's tokens by id (the seeded one too: it comes back only with the next start
    /// that declares it). Refused from the next request on.</summary>
    public async Task<UserTokenRow> RevokeUserTokenAsync(Principal p, string tokenId, CancellationToken ct = default)
    {
        EnsureUser(p);
        var row = await store.WriteAsync(tx =>
        {
            var t = tx.UserTokens(p.Name).FirstOrDefault(r => Tokens.Id(r.Hash) == tokenId)
                    ?? throw new LifecycleException(LifecycleErrorKind.NotFound, $"you have no token with id '{Trunc(tokenId)}'");
            tx.DeleteUserToken(p.Name, t.Hash);
            return t;
        }, ct);
        return row;
    }

    private static void EnsureUser(Principal p)
    {
        if (p.Kind != PrincipalKind.User) throw Forbidden("a runner token cannot manage user tokens");
    }

    private static string Trunc(string s) => s.Length > 40 ? s[..40] + "…" : s;

    public Task<string> IssueRunnerTokenAsync(Principal p, string id, CancellationToken ct = default)
    {
        var token = Tokens.New(Tokens.RunnerPrefix);
        return store.WriteAsync(id, tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "issue runner tokens");
            tx.InsertToken(Tokens.Hash(token), "runner", p.Name, id, Tokens.Prefix(token), null, s.Uid);
            return token;
        }, ct);
    }

    /// <summary>The Space's runner tokens by id and prefix (owner only); the secrets are not stored, so never shown.</summary>
    public Task<IReadOnlyList<RunnerTokenRow>> ListRunnerTokensAsync(Principal p, string id, CancellationToken ct = default) =>
        store.WriteAsync(id, tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "list its runner tokens");
            return tx.RunnerTokens(id);
        }, ct);

    /// <summary>
    /// Revokes one runner token of the Space (owner only) by its id (<see cref="Tokens.Id"/>). It is refused (401)
    /// from the next request on: the row is gone and every instance's token cache forgets it (this one at once, the
    /// others sharing a PostgreSQL database when the store's notification arrives, within milliseconds).
    /// </summary>
    public async Task<RunnerTokenRow> RevokeRunnerTokenAsync(Principal p, string id, string tokenId, CancellationToken ct = default)
    {
        var row = await store.WriteAsync(id, tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "revoke its runner tokens");
            var t = tx.RunnerTokens(id).FirstOrDefault(r => Tokens.Id(r.Hash) == tokenId)
                    ?? throw new LifecycleException(LifecycleErrorKind.NotFound, $"{id} has no runner token with id '{Trunc(tokenId)}'");
            tx.DeleteRunnerToken(id, t.Hash);
            return t;
        }, ct);
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
        return await store.WriteAsync(id, tx =>
        {
            if (tx.GetOwner(id) is not null) throw new LifecycleException(LifecycleErrorKind.Conflict, $"Space {id} already exists");
            tx.InsertSpace(state);
            tx.InsertEvent(new StoredEvent(id, CoreSource, "created:" + state.Uid, "created", created.AtMs, created.AtMs, true, CoreJson.Event(created)));
            return state;
        }, ct);
    }

    public async Task<SpaceState> OwnerActionAsync(Principal p, string id, string action, SpaceEvent e, CancellationToken ct = default)
    {
        e = e with { AtMs = NowMs };
        var state = await store.WriteAsync(id, tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, action);
            return Apply(tx, s, e, CoreSource, Guid.NewGuid().ToString("n")).State;
        }, ct);
        Signals.Pulse(id);
        return state;
    }

    /// <summary>Deletes the Space with its runner tokens; their cached authentications go at once, and tokens are bound
    /// to the Space's uid, so none of them can ever act on a new Space of the same name.</summary>
    public async Task DeleteAsync(Principal p, string id, CancellationToken ct = default)
    {
        var e = new DeleteRequested { AtMs = NowMs };
        await store.WriteAsync(id, tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureOwner(s, "delete it");
            Apply(tx, s, e, CoreSource, Guid.NewGuid().ToString("n")); // closes the open interval into the ledger
            tx.DeleteSpace(id);
            return 0;
        }, ct);
        Signals.Pulse(id);
    }

    /// <summary>A visitor (anyone): wakes a sleeping Space and postpones sleep. Repeated visits within a minute to an
    /// awake Space are not stored (they change nothing that matters at minute resolution).</summary>
    public async Task<SpaceState> VisitAsync(string id, CancellationToken ct = default)
    {
        var now = NowMs;
        var s = await store.GetSpaceAsync(id, ct) ?? throw NotFound(id);
        if (s.Stage != Stage.Stopped && s.LastVisitAtMs is { } last && now - last < 60_000) return s;
        var e = new Visited { AtMs = now };
        var state = await store.WriteAsync(id, tx =>
        {
            var cur = tx.GetSpace(id) ?? throw NotFound(id);
            return Apply(tx, cur, e, CoreSource, Guid.NewGuid().ToString("n")).State;
        }, ct);
        Signals.Pulse(id);
        return state;
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
        return store.WriteAsync(g.SpaceId, tx => { _ = tx.GetOwner(g.SpaceId) ?? throw NotFound(g.SpaceId); tx.InsertGrant(g); return 0; }, ct);
    }

    // ------------------------------------------------------------ runner events

    /// <summary>
    /// Applies one runner event exactly once: dedup on (Space, "run:" + runId, eventId) in the same transaction that
    /// writes it. Heartbeats only move the last evidence of life; other events go through the stage machine.
    /// </summary>
    public Task<Ack> RunnerEventAsync(Principal p, string id, string runId, string eventId, SpaceEvent? e, long atMs,
        string? payload, string? detail, CancellationToken ct = default) =>
        RunnerEventAsync(p, id, new RunnerInput(runId, eventId, e, atMs, payload, detail), ct);

    public async Task<Ack> RunnerEventAsync(Principal p, string id, RunnerInput input, CancellationToken ct = default)
    {
        var now = NowMs;
        Validate(p, id, input, now);
        var ack = await store.WriteAsync(id, tx => ApplyRunner(tx, p, id, input, now), ct);
        Signals.Pulse(id);
        return ack;
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
        await store.WriteAsync(id, tx =>
        {
            // Heartbeats first, all at once: one existence check + max, then their rows in a few multi-row INSERTs
            // (they commute with everything else: only the last evidence of life depends on them).
            var beats = valid.Where(i => inputs[i].Event is null).ToList();
            if (beats.Count > 0)
            {
                if (!tx.Heartbeat(id, newest, p.SpaceUid))
                    foreach (var i in beats) results[i] = new RunnerOutcome(null, NotFound(id));
                else
                {
                    var fresh = tx.TryInsertEvents(beats.Select(i => new StoredEvent(id, "run:" + inputs[i].RunId, inputs[i].EventId, "heartbeat",
                        inputs[i].AtMs, now, false, inputs[i].Payload)).ToList());
                    for (var k = 0; k < beats.Count; k++)
                    {
                        var input = inputs[beats[k]];
                        results[beats[k]] = fresh[k] || SameHeartbeat(tx, id, input) is not { } conflict
                            ? new RunnerOutcome(new Ack(!fresh[k], input.RunId, null), null)
                            : new RunnerOutcome(null, conflict);
                    }
                    foreach (var i in beats) TryResume(tx, id, inputs[i]);
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
        Signals.Pulse(id);
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
            if (!tx.Heartbeat(id, input.AtMs, p.SpaceUid)) throw NotFound(id);
            var fresh = tx.TryInsertEvent(new StoredEvent(id, source, input.EventId, "heartbeat", input.AtMs, now, false, input.Payload));
            if (!fresh && SameHeartbeat(tx, id, input) is { } conflict) throw conflict;
            TryResume(tx, id, input);
            return new Ack(!fresh, input.RunId, null);
        }
        var s = tx.GetSpace(id) ?? throw NotFound(id);
        p.EnsureCanReport(s);
        if (tx.FindEvent(id, source, input.EventId) is { } seen)
        {
            // A resend is acknowledged as a duplicate only if it is the same event: the id is the runner's promise
            // that the bytes are the same, and a different claim under a used id would rewrite history.
            if (!SameEvent(seen, e, input.Detail))
                throw new LifecycleException(LifecycleErrorKind.Conflict,
                    $"eventId '{input.EventId}' of run '{input.RunId}' was already received with a different payload ({seen.Kind} at {Time.Format(seen.AtMs)}); a new event needs a new eventId");
            // A resend is answered as its first delivery was: still held (202, with why) or given up on.
            var why = seen.Kind.StartsWith("dead:", StringComparison.Ordinal) ? $"given up on after the hold bound: {seen.Detail}"
                : s.HeldCount > 0 ? HeldEvents(tx, id).FirstOrDefault(h => h.Event.Seq == seen.Seq).Why : null;
            return new Ack(true, input.RunId, s, why);
        }
        e = SmokeReports.AtReceipt(s, e); // the core's own evidence: was the run already RUNNING when a fault came in?
        // The runner's stop cannot end billing before the evidence the core already has of that run (clamped).
        var clamped = SpaceMachine.ClampToEvidence(s, e);
        var detail = input.Detail;
        if (!ReferenceEquals(clamped, e))
            detail = $"recorded at the last heartbeat received ({Time.Format(clamped.AtMs)}), not at the claimed {Time.Format(e.AtMs)}";
        var (next, held) = Apply(tx, s, clamped, source, input.EventId, detail, hold: true);
        return new Ack(false, input.RunId, next, held?.Message);
    }

    /// <summary>Whether a stored state event is the one a resend claims (as the runner sent it: before any clamp).</summary>
    private static bool SameEvent(StoredEvent seen, SpaceEvent e, string? detail)
    {
        if (seen.Kind == "heartbeat" || seen.Payload is null) return false;
        var stored = CoreJson.ReadEvent(seen.Payload);
        if (stored with { AtMs = stored.ClaimedAtMs ?? stored.AtMs, ClaimedAtMs = null } != e) return false;
        // The detail (a device report's raw JSON) is the runner's too, unless the core wrote its own note there.
        return stored.ClaimedAtMs is not null || seen.Kind.StartsWith("dead:", StringComparison.Ordinal) || seen.Detail == detail;
    }

    /// <summary>Null when the stored heartbeat with this id is the same (a resend); else the 409 to answer.</summary>
    private static LifecycleException? SameHeartbeat(IStoreTx tx, string id, RunnerInput input)
    {
        var seen = tx.FindEvent(id, "run:" + input.RunId, input.EventId);
        if (seen is null || seen.Kind == "heartbeat" && seen.AtMs == input.AtMs && seen.Payload == input.Payload) return null;
        return new LifecycleException(LifecycleErrorKind.Conflict,
            $"eventId '{input.EventId}' of run '{input.RunId}' was already received with a different payload ({seen.Kind} at {Time.Format(seen.AtMs)}); a new event needs a new eventId");
    }

    /// <summary>
    /// A heartbeat of the run that lost-heartbeats failed, dated after that conclusion: the run was alive through the
    /// silence (a network fault, not the app's). The conclusion is voided (<see cref="HeartbeatsResumed"/>): the
    /// history is re-folded without it, so the Space is back to RUNNING (or to what its owner decided meanwhile),
    /// nothing is auto-paused, and the proven time is billed.
    /// </summary>
    private void TryResume(IStoreTx tx, string id, RunnerInput beat)
    {
        if (!_lost.ContainsKey(id)) return;
        var s = tx.GetSpace(id);
        if (s?.LostHeartbeatsAtMs is not { } lost) { _lost.TryRemove(id, out _); return; }
        if (s.RunId != beat.RunId || beat.AtMs <= lost) return;
        var eventId = $"resumed:{lost}:{s.RunId}";
        if (tx.EventSeen(id, CoreSource, eventId)) return;
        Apply(tx, s, new HeartbeatsResumed(lost) { AtMs = lost }, CoreSource, eventId,
            $"run {s.RunId} sent a heartbeat dated {Time.Format(beat.AtMs)}: it was alive after the silence");
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
        // The hold bound runs from when the core first held an event (its own clock, not the runner's `at`).
        var state = r.State with { HeldSinceMs = r.State.HeldCount > 0 ? s.HeldSinceMs ?? now : null };
        if (state.HeldCount > 0) _held[s.Id] = state.HeldSinceMs!.Value; else _held.TryRemove(s.Id, out _);
        if (state.LostHeartbeatsAtMs is not null) _lost[s.Id] = 0; else _lost.TryRemove(s.Id, out _);
        r = r with { State = state };
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
            nameof(SleepTimeSet) => "sleeptime", nameof(SmokeReported) => "smoke", nameof(SmokeLevelSet) => "smokelevel",
            nameof(DeleteRequested) => "delete", nameof(HeartbeatsResumed) => "heartbeats-resumed",
            var n => n.ToLowerInvariant(),
        },
    };

    // ------------------------------------------------------------ time rules

    /// <summary>Applies every due time rule (lost heartbeats, sleep, the hold bound) as of the clock's now. Returns how
    /// many Spaces changed.</summary>
    public async Task<int> TickAsync(CancellationToken ct = default)
    {
        var now = NowMs;
        var fired = await DeadLetterHeldAsync(now, ct);
        foreach (var s in await store.ListLiveSpacesAsync(ct))
        {
            if (machine.Due(s, now) is null) continue;
            var applied = await store.WriteAsync(s.Id, tx =>
            {
                var cur = tx.GetSpace(s.Id);
                if (cur is null || machine.Due(cur, now) is not { } due) return false; // changed meanwhile
                // A deterministic id: two core instances firing the same rule apply it once.
                var id = $"{KindOf(due)}:{due.AtMs}:{cur.RunId}";
                if (tx.EventSeen(cur.Id, CoreSource, id)) return false;
                Apply(tx, cur, due, CoreSource, id);
                return true;
            }, ct);
            if (applied) { fired++; Signals.Pulse(s.Id); }
        }
        return fired;
    }

    /// <summary>Applies the heartbeat retention: rows received more than <paramref name="retention"/> ago go.</summary>
    public Task<int> PruneHeartbeatsAsync(TimeSpan retention, CancellationToken ct = default) =>
        store.PruneHeartbeatsAsync(NowMs - (long)retention.TotalMilliseconds, ct);

    /// <summary>
    /// The hold bound (<see cref="LifecyclePolicy.HoldWindow"/>): an event held longer than that, counted from when it
    /// arrived, will not be made to fit by the events still to come; it leaves the history for the dead-letter list,
    /// with the reason it was held. (It changed nothing while held, so the state and the ledger stay as they are.)
    /// </summary>
    private async Task<int> DeadLetterHeldAsync(long now, CancellationToken ct)
    {
        if (now >= Interlocked.Read(ref _scanDueMs))
        {
            // Also picks up what another core instance held or failed (and this one after a restart).
            foreach (var s in await store.ListSpacesAsync(null, ct))
            {
                if (s.HeldCount > 0) _held[s.Id] = s.HeldSinceMs ?? now;
                if (s.LostHeartbeatsAtMs is not null) _lost[s.Id] = 0;
            }
            Interlocked.Exchange(ref _scanDueMs, now + 60_000);
        }
        var window = (long)machine.Policy.HoldWindow.TotalMilliseconds;
        var changed = 0;
        foreach (var (id, since) in _held.ToArray())
        {
            if (since + window > now) continue;
            var moved = await store.WriteAsync(id, tx =>
            {
                var s = tx.GetSpace(id);
                if (s is null || s.HeldCount == 0) { _held.TryRemove(id, out _); return 0; }
                var events = tx.StateEvents(id);
                var fold = machine.Fold(id, events.Select(x => new LoggedEvent(CoreJson.ReadEvent(x.Payload!), x.Seq)));
                var bySeq = events.ToDictionary(x => x.Seq);
                var n = 0;
                long? oldest = null;
                foreach (var h in fold.Held)
                {
                    var stored = bySeq[h.Event.Arrival];
                    if (stored.ReceivedMs + window > now) { oldest = Math.Min(oldest ?? long.MaxValue, stored.ReceivedMs); continue; }
                    tx.DeadLetterEvent(stored.Seq, $"held {machine.Policy.HoldWindow.TotalMinutes:0.#} min without fitting: {h.Why.Message}");
                    n++;
                }
                var left = fold.Held.Count - n;
                tx.UpdateSpace(s with { HeldCount = left, HeldSinceMs = left > 0 ? oldest ?? now : null, DeadLetterCount = s.DeadLetterCount + n });
                if (left > 0) _held[id] = oldest ?? now; else _held.TryRemove(id, out _);
                return n;
            }, ct);
            if (moved > 0) { Interlocked.Add(ref _deadLettered, moved); changed++; }
        }
        return changed;
    }

    /// <summary>A Space's held events (with why) and its dead letters (with why), for its runner, owner or an admin.</summary>
    public Task<(IReadOnlyList<(StoredEvent Event, string Why)> Held, IReadOnlyList<StoredEvent> Dead)> HeldAsync(Principal p, string id, CancellationToken ct = default) =>
        store.WriteAsync(tx =>
        {
            var s = tx.GetSpace(id) ?? throw NotFound(id);
            p.EnsureCanRead(s);
            return (s.HeldCount > 0 ? HeldEvents(tx, id) : [], tx.DeadLetters(id));
        }, ct);

    /// <summary>The Space's stored events that its history's fold holds, each with why.</summary>
    private IReadOnlyList<(StoredEvent Event, string Why)> HeldEvents(IStoreTx tx, string id)
    {
        var events = tx.StateEvents(id);
        var bySeq = events.ToDictionary(x => x.Seq);
        return machine.Fold(id, events.Select(x => new LoggedEvent(CoreJson.ReadEvent(x.Payload!), x.Seq))).Held
            .Select(h => (bySeq[h.Event.Arrival], h.Why.Message)).ToList();
    }

    /// <summary>
    /// The long poll of a runner (GET desired): the decision for its run, answered as soon as it differs from
    /// <paramref name="known"/> or when <paramref name="wait"/> ran out. A Space that does not exist (deleted) is a
    /// decision too. Re-read on each change this instance makes, and every 2 s for other instances' changes.
    /// </summary>
    public async Task<Desired> DesiredAsync(Principal? p, string id, string? runId, DesiredKind? known, TimeSpan wait, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + wait;
        while (true)
        {
            var next = Signals.Next(id);
            var s = await store.GetSpaceAsync(id, ct);
            if (s is not null)
            {
                if (p is null) throw new Api.ApiException(401, "invalid or revoked token");
                p.EnsureCanReport(s);
            }
            var d = Desired.Of(s, runId);
            var left = deadline - DateTimeOffset.UtcNow;
            if (d.Kind != known || left <= TimeSpan.Zero) return d;
            await Task.WhenAny(next, Task.Delay(left < TimeSpan.FromSeconds(2) ? left : TimeSpan.FromSeconds(2), ct));
            ct.ThrowIfCancellationRequested();
        }
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
