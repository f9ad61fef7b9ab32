using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Storage;

/// <summary>An event as stored: deduplicated on (SpaceId, Source, EventId).</summary>
public sealed record StoredEvent(string SpaceId, string Source, string EventId, string Kind, long AtMs, long ReceivedMs,
    bool StateChange, string? Payload, string? Detail = null, long Seq = 0);

/// <summary>A runner token as stored: only its SHA-256 and a short prefix of the secret.</summary>
public sealed record RunnerTokenRow(string Hash, string? Prefix, string CreatedBy, long CreatedMs);

/// <summary>A user token as stored: its hash, the public prefix (null for a seeded token: the operator chose that
/// secret), its name ("seed" for the one --user/--admin declares) and when it was made.</summary>
public sealed record UserTokenRow(string Hash, string? Prefix, string Name, long CreatedMs);

/// <summary>A user as --user/--admin declares it: name, the token's hash, admin.</summary>
public sealed record SeededUser(string Name, string Hash, bool Admin);

/// <summary>One append-only ledger row: +1 for a metered interval, -1 for its compensation.</summary>
public sealed record LedgerRow(UsageInterval Interval, int Sign, string Reason, long RecordedMs, long Id = 0);

/// <summary>Per (Space, billed flavor, price) metered time inside a period (compensations already netted).</summary>
public sealed record LedgerAggregate(string SpaceId, string Owner, string BilledFlavor, long HourlyMicroUsd, long MeteredMs);

/// <summary>
/// Work run by the single writer inside its transaction. Synchronous on purpose: the writer is one dedicated loop,
/// and many work items share one transaction (group commit). A work item must throw its expected refusals
/// (<see cref="LifecycleException"/>) before it writes anything.
/// </summary>
public interface IStoreTx
{
    long NowMs { get; }
    SpaceState? GetSpace(string id);
    /// <summary>The owner only (cheap: no state to decode), null when there is no such Space.</summary>
    string? GetOwner(string id);
    /// <summary>Moves the last heartbeat forward (never back, so a retry is harmless); false when there is no such Space.
    /// <paramref name="uid"/>: only when the Space has this uid (a runner token's Space, not a later one of the same name).</summary>
    bool Heartbeat(string spaceId, long atMs, string? uid = null);
    /// <summary>Inserts unless (space, source, eventId) exists; false for a duplicate. One statement: the dedup is the
    /// unique key itself, inside the writer's transaction.</summary>
    bool TryInsertEvent(StoredEvent e);
    /// <summary>Several <see cref="TryInsertEvent"/> in a few multi-row statements (one round trip per 64 rows):
    /// true for each event inserted, false for a duplicate (also of an earlier one in the list).</summary>
    IReadOnlyList<bool> TryInsertEvents(IReadOnlyList<StoredEvent> events);
    void InsertSpace(SpaceState s);
    void UpdateSpace(SpaceState s);
    /// <summary>Removes the Space, its events and runner tokens; its ledger rows stay (append-only).</summary>
    void DeleteSpace(string id);
    bool EventSeen(string spaceId, string source, string eventId);
    /// <summary>The stored event with this key, or null (a resend is compared with it: same id, other payload = 409).</summary>
    StoredEvent? FindEvent(string spaceId, string source, string eventId);
    /// <summary>Gives up on a held event: it leaves the history (never folded again) and is kept, kind "dead:KIND",
    /// with <paramref name="reason"/> as its detail.</summary>
    void DeadLetterEvent(long seq, string reason);
    /// <summary>The Space's dead-lettered events, oldest first.</summary>
    IReadOnlyList<StoredEvent> DeadLetters(string spaceId);
    void InsertEvent(StoredEvent e);
    IReadOnlyList<StoredEvent> StateEvents(string spaceId);
    void AppendLedger(IEnumerable<LedgerRow> rows);
    IReadOnlyList<LedgerRow> Ledger(string spaceId, string uid);
    void UpsertUser(string name, bool admin);
    /// <summary>Stores a token's hash; kind "user" (SpaceId null) or "runner". <paramref name="prefix"/>: the first
    /// characters of a runner token, kept so its owner can tell tokens apart (never enough to use it).
    /// <paramref name="name"/>: a user token's name; <paramref name="spaceUid"/>: the uid of a runner token's Space.</summary>
    void InsertToken(string hash, string kind, string userName, string? spaceId, string? prefix = null, string? name = null, string? spaceUid = null);
    /// <summary>The user tokens of <paramref name="user"/> (seeded and named), oldest first.</summary>
    IReadOnlyList<UserTokenRow> UserTokens(string user);
    /// <summary>Deletes one user token of <paramref name="user"/>; false when there is none.</summary>
    bool DeleteUserToken(string user, string hash);
    /// <summary>Makes the seeded users match <paramref name="users"/> (CoreService.DeclareSeededUsersAsync); returns
    /// the hashes of the tokens it removed.</summary>
    IReadOnlyList<string> DeclareSeededUsers(IReadOnlyList<SeededUser> users);
    /// <summary>Deletes up to <paramref name="limit"/> heartbeat rows (state_change = 0) with seq below <paramref name="seq"/>.</summary>
    int DeleteHeartbeatsBelow(long seq, int limit);
    /// <summary>The runner tokens of a Space (hash, prefix, who issued it, when), oldest first.</summary>
    IReadOnlyList<RunnerTokenRow> RunnerTokens(string spaceId);
    /// <summary>Deletes the Space's runner token whose hash is <paramref name="hash"/>; false when there is none.</summary>
    bool DeleteRunnerToken(string spaceId, string hash);
    void InsertGrant(Grant g);
}

/// <summary>The database cannot take the request now (connection pool exhausted, server out of connections): 503.</summary>
public sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);

public interface ICoreStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgres".</summary>
    string Kind { get; }
    /// <summary>Where the data is, for logs (no password).</summary>
    string Describe { get; }

    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>Runs <paramref name="work"/> in the single writer's transaction and completes after the commit. For
    /// work that touches no Space (users, grants); a write to a Space names it (the overload below).</summary>
    Task<T> WriteAsync<T>(Func<IStoreTx, T> work, CancellationToken ct = default);

    /// <summary>Like <see cref="WriteAsync{T}(Func{IStoreTx,T},CancellationToken)"/> for work that touches the Space
    /// <paramref name="spaceId"/> (and no other): the transaction locks it first, in the order every instance uses.</summary>
    Task<T> WriteAsync<T>(string? spaceId, Func<IStoreTx, T> work, CancellationToken ct = default);

    /// <summary>Calls <paramref name="handler"/> with "token:HASH", "space:ID" or "*" (everything) when cached copies
    /// must go: after this instance's commit, and when another instance on the same database committed one. No default
    /// body on purpose: a decorator that forgot to forward it would keep revoked tokens cached.</summary>
    void OnInvalidated(Action<string> handler);

    /// <summary>True while this instance is the one that runs the time rules (several instances on one database elect
    /// one; a single store always leads).</summary>
    Task<bool> TryLeadAsync(CancellationToken ct = default);

    Task<SpaceState?> GetSpaceAsync(string id, CancellationToken ct = default);
    Task<IReadOnlyList<SpaceState>> ListSpacesAsync(string? owner, CancellationToken ct = default);
    /// <summary>Spaces a time rule may apply to (alive or running stages).</summary>
    Task<IReadOnlyList<SpaceState>> ListLiveSpacesAsync(CancellationToken ct = default);
    Task<Principal?> FindTokenAsync(string hash, CancellationToken ct = default);
    Task<IReadOnlyList<LedgerAggregate>> AggregateAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default);
    Task<IReadOnlyList<LedgerRow>> LedgerAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default);
    Task<IReadOnlyList<Grant>> GrantsAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default);
    Task<long> CountEventsAsync(string? spaceId, CancellationToken ct = default);
    Task<IReadOnlyList<StoredEvent>> EventsAsync(string spaceId, CancellationToken ct = default);

    /// <summary>Deletes heartbeat rows the core received before <paramref name="receivedBeforeMs"/> (the retention);
    /// state events and the ledger stay. Returns how many went.</summary>
    Task<int> PruneHeartbeatsAsync(long receivedBeforeMs, CancellationToken ct = default);

    /// <summary>Bulk load for benchmarks and imports (one transaction, bypassing the writer).</summary>
    Task BulkInsertAsync(IEnumerable<StoredEvent> events, IEnumerable<LedgerRow> ledger, CancellationToken ct = default);
}
