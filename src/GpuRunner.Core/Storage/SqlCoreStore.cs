using System.Data;
using System.Data.Common;
using System.Threading.Channels;
using GpuRunner.Lifecycle;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GpuRunner.Core.Storage;

/// <summary>
/// The storage shared by SQLite and PostgreSQL: plain ADO.NET and hand-written SQL that both accept, with the few
/// differences in <see cref="Dialect"/>. All writes go through one writer loop that groups the queued work into a
/// single transaction (group commit) and completes each caller only after that transaction committed — so an
/// acknowledged event is durable, and a batch costs one fsync instead of one per event.
/// <para>
/// Several core instances may share one PostgreSQL database, each with its own writer. Their transactions cannot
/// deadlock: each work item names the Space it touches, and a transaction first locks all the Spaces of its batch in
/// one global order (<see cref="LockSpaces"/>: ascending lock key) before it reads or writes anything. Every other
/// lock it then takes (the Space row, its event rows and their unique-index entries, its tokens) belongs to one of
/// those Spaces, so no other writer holds it, and a wait-for cycle between two writers is impossible: a writer only
/// ever waits for a Space lock held by a writer that has already passed it in the same order. Group commit stays
/// (many Spaces per transaction, one fsync). A deadlock or serialization failure raised anyway (a work item that did
/// not name its Space, an operator's own session) is retried with backoff and logged at warning level.
/// </para>
/// </summary>
public abstract class SqlCoreStore : ICoreStore
{
    /// <summary>Upper bound of work items per transaction: large enough to amortise the commit, small enough for p99.</summary>
    public int MaxBatch { get; init; } = 512;

    protected TimeProvider Clock { get; }
    /// <summary>Set by the host once logging exists; warnings about retries and failed batches go here.</summary>
    public ILogger Log { get; set; } = NullLogger.Instance;
    private long _deadlocks, _retries;
    /// <summary>Deadlocks (40P01) and serialization failures (40001) the database reported to this writer.</summary>
    public long Deadlocks => Interlocked.Read(ref _deadlocks);
    /// <summary>Batches re-run after a transient failure (deadlock, serialization) or split to isolate a failing item.</summary>
    public long Retries => Interlocked.Read(ref _retries);
    private readonly List<Action<string>> _invalidated = [];
    private readonly Channel<WorkItem> _queue = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(20_000)
    {
        SingleReader = true, FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly CancellationTokenSource _stop = new();
    private Task? _writer;

    protected SqlCoreStore(TimeProvider clock) => Clock = clock;

    public abstract string Kind { get; }
    public abstract string Describe { get; }
    protected abstract DbConnection Open();
    /// <summary>Opens without blocking a thread: the request paths use it. A pool that is out of connections makes
    /// its callers wait; with a blocking open every waiting request held a thread-pool thread, the continuations that
    /// would have returned connections found no thread, and the instance stalled until the pool's timeout.</summary>
    protected virtual ValueTask<DbConnection> OpenAsync(CancellationToken ct) => new(Open());
    protected abstract string[] Schema { get; }
    /// <summary>Row lock for the Space being changed (PostgreSQL, where several core instances may write).</summary>
    protected virtual string ForUpdate => "";
    /// <summary>Two-argument min/max: SQLite's scalar MIN/MAX, PostgreSQL's LEAST/GREATEST.</summary>
    protected abstract string Least { get; }
    protected abstract string Greatest { get; }
    protected virtual void BeforeSchema(DbConnection c, DbTransaction tx) { }
    /// <summary>Store-specific background work started with the writer (SQLite: WAL checkpoints off the writer's path).</summary>
    protected virtual void StartBackground() { }
    /// <summary>Runs on the writer's connection after a batch committed and its callers were answered, with no
    /// transaction open (SQLite: bounds the WAL). A failure here fails no caller.</summary>
    protected virtual void AfterCommit(DbConnection conn) { }
    /// <summary>Takes the locks of the Spaces a transaction is about to touch, in one global order (PostgreSQL).</summary>
    protected virtual void LockSpaces(DbConnection c, DbTransaction tx, IReadOnlyCollection<string> spaceIds) { }
    /// <summary>SQL that tells the other instances about an invalidation (@p0 channel, @p1 payload), or null.</summary>
    protected virtual (string Sql, string Channel)? NotifyCommand => null;
    /// <summary>Deadlock or serialization failure: nothing was applied, the batch may simply run again.</summary>
    protected virtual bool IsTransient(Exception e) => false;
    /// <summary>A unique-key violation: two instances raced to create the same thing.</summary>
    protected virtual bool IsUniqueViolation(Exception e) => false;

    public virtual Task<bool> TryLeadAsync(CancellationToken ct = default) => Task.FromResult(true);

    public void OnInvalidated(Action<string> handler) { lock (_invalidated) _invalidated.Add(handler); }

    /// <summary>Tells this instance's caches that "token:HASH", "space:ID" or "*" (everything) changed.</summary>
    protected void RaiseInvalidated(string what)
    {
        Action<string>[] handlers;
        lock (_invalidated) handlers = [.. _invalidated];
        foreach (var h in handlers)
        {
            try { h(what); }
            catch (Exception e) { Log.LogError(e, "cache invalidation handler failed for {What}", what); }
        }
    }

    protected abstract bool TableExists(DbConnection c, DbTransaction tx, string table);
    protected abstract bool ColumnExists(DbConnection c, DbTransaction tx, string table, string column);

    protected static object? Scalar(DbConnection c, DbTransaction tx, string sql, params object?[] values)
    {
        using var cmd = Command(c, sql, values);
        cmd.Transaction = tx;
        return cmd.ExecuteScalar();
    }

    public Task InitializeAsync(CancellationToken ct = default)
    {
        using (var c = Open())
        using (var tx = c.BeginTransaction())
        {
            BeforeSchema(c, tx);
            // Columns added after the first release, for databases created before them (before any index on them).
            if (TableExists(c, tx, "tokens") && !ColumnExists(c, tx, "tokens", "prefix")) Run(c, tx, "ALTER TABLE tokens ADD COLUMN prefix TEXT");
            if (TableExists(c, tx, "tokens") && !ColumnExists(c, tx, "tokens", "name")) Run(c, tx, "ALTER TABLE tokens ADD COLUMN name TEXT");
            if (TableExists(c, tx, "tokens") && !ColumnExists(c, tx, "tokens", "space_uid")) Run(c, tx, "ALTER TABLE tokens ADD COLUMN space_uid TEXT");
            if (TableExists(c, tx, "users") && !ColumnExists(c, tx, "users", "seeded"))
            {
                Run(c, tx, "ALTER TABLE users ADD COLUMN seeded INTEGER NOT NULL DEFAULT 0");
                Run(c, tx, "UPDATE users SET seeded = 1"); // until then every user came from --user/--admin
            }
            foreach (var sql in Schema) Run(c, tx, sql);
            tx.Commit();
        }
        _writer ??= Task.Factory.StartNew(WriterLoop, TaskCreationOptions.LongRunning).Unwrap();
        StartBackground();
        return Task.CompletedTask;
    }

    // Tables. Times are Unix milliseconds (BIGINT) so period arithmetic is integer SQL in both databases.
    protected static string[] CommonSchema(string autoId, string text = "TEXT") =>
    [
        // users.seeded: declared by --user/--admin (the next start's declaration replaces it). tokens.name: a user
        // token's name ("seed" or NULL for the declared one); tokens.space_uid: the Space a runner token is bound to.
        $"""CREATE TABLE IF NOT EXISTS users (name {text} PRIMARY KEY, admin INTEGER NOT NULL, created_ms BIGINT NOT NULL, seeded INTEGER NOT NULL DEFAULT 0)""",
        $"""CREATE TABLE IF NOT EXISTS tokens (hash {text} PRIMARY KEY, kind {text} NOT NULL, user_name {text} NOT NULL, space_id {text}, created_ms BIGINT NOT NULL, prefix {text}, name {text}, space_uid {text})""",
        "CREATE INDEX IF NOT EXISTS tokens_space ON tokens (space_id)",
        "CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_name)",
        $"""CREATE TABLE IF NOT EXISTS spaces (id {text} PRIMARY KEY, uid {text} NOT NULL, owner {text} NOT NULL, stage {text} NOT NULL, last_heartbeat_ms BIGINT, state {text} NOT NULL, updated_ms BIGINT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS spaces_owner ON spaces (owner)",
        $"""CREATE TABLE IF NOT EXISTS events (seq {autoId}, space_id {text} NOT NULL, source {text} NOT NULL, event_id {text} NOT NULL, kind {text} NOT NULL, at_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, state_change INTEGER NOT NULL, payload {text}, detail {text}, UNIQUE (space_id, source, event_id))""",
        "CREATE INDEX IF NOT EXISTS events_state ON events (space_id, at_ms, seq) WHERE state_change = 1",
        $"""CREATE TABLE IF NOT EXISTS usage_ledger (id {autoId}, space_id {text} NOT NULL, space_uid {text} NOT NULL, owner {text} NOT NULL, requested_flavor {text} NOT NULL, billed_flavor {text} NOT NULL, hourly_micro_usd BIGINT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL, sign INTEGER NOT NULL, reason {text} NOT NULL, recorded_ms BIGINT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS usage_ledger_space ON usage_ledger (space_id, start_ms)",
        "CREATE INDEX IF NOT EXISTS usage_ledger_owner ON usage_ledger (owner, start_ms)",
        "CREATE INDEX IF NOT EXISTS usage_ledger_start ON usage_ledger (start_ms)",
        $"""CREATE TABLE IF NOT EXISTS grants (id {autoId}, space_id {text} NOT NULL, flavor {text} NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT NOT NULL, note {text}, created_ms BIGINT NOT NULL)""",
    ];

    // ---------------------------------------------------------------- the single writer

    public Task<T> WriteAsync<T>(Func<IStoreTx, T> work, CancellationToken ct = default) => WriteAsync(null, work, ct);

    public Task<T> WriteAsync<T>(string? spaceId, Func<IStoreTx, T> work, CancellationToken ct = default)
    {
        if (_writer is null) throw new InvalidOperationException("InitializeAsync first");
        var item = new WorkItem<T>(work, spaceId);
        if (!_queue.Writer.TryWrite(item))
            return EnqueueSlowAsync(item, ct);
        return item.Task;
    }

    private async Task<T> EnqueueSlowAsync<T>(WorkItem<T> item, CancellationToken ct)
    {
        await _queue.Writer.WriteAsync(item, ct);
        return await item.Task;
    }

    private async Task WriterLoop()
    {
        var batch = new List<WorkItem>(MaxBatch);
        DbConnection? conn = null;
        Writer? writer = null;
        var reader = _queue.Reader;
        void Reset() { writer?.Dispose(); conn?.Dispose(); (writer, conn) = (null, null); }
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                batch.Clear();
                while (batch.Count < MaxBatch && reader.TryRead(out var w)) batch.Add(w);
                try
                {
                    await RunWithRetriesAsync(batch);
                }
                catch (Exception e) when (batch.Count > 1)
                {
                    // Isolate a poison item: retry one by one so only the broken one fails.
                    Interlocked.Increment(ref _retries);
                    Log.LogWarning("a batch of {Count} writes failed ({Error}); retrying them one by one", batch.Count, e.Message);
                    Reset();
                    foreach (var w in batch)
                    {
                        try { await RunWithRetriesAsync([w]); }
                        catch (Exception one) { w.Fail(Refusal(one)); Reset(); }
                    }
                }
                catch (Exception e)
                {
                    foreach (var w in batch) w.Fail(Refusal(e));
                    Reset();
                }
            }
        }
        catch (OperationCanceledException) { }
        finally
        {
            Reset();
            while (reader.TryRead(out var w)) w.Fail(new ObjectDisposedException("store", "the core is shutting down"));
        }

        async Task RunWithRetriesAsync(List<WorkItem> items)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    conn ??= Open();
                    writer ??= new Writer(this, conn);
                    RunBatch(writer, items);
                    return;
                }
                catch (Exception e) when (IsTransient(e) && attempt < 6)
                {
                    Interlocked.Increment(ref _deadlocks);
                    Interlocked.Increment(ref _retries);
                    // Jittered exponential backoff, so the two sides of a conflict do not meet again at once.
                    var delay = TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20) << (attempt - 1));
                    Log.LogWarning("write of {Count} item(s) hit {Error}; retry {Attempt} in {Delay} ms", items.Count, e.Message, attempt, (int)delay.TotalMilliseconds);
                    await Task.Delay(delay);
                }
            }
        }
    }

    /// <summary>What a failed work item answers: a unique violation is a lost race (409), anything else as it is.</summary>
    private Exception Refusal(Exception e) =>
        IsUniqueViolation(e) ? new LifecycleException(LifecycleErrorKind.Conflict, "conflicting change on another core instance; try again") : e;

    private void RunBatch(Writer writer, List<WorkItem> batch)
    {
        writer.Begin();
        try
        {
            var spaces = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var w in batch) if (w.Space is not null) spaces.Add(w.Space);
            if (spaces.Count > 0) LockSpaces(writer.Connection, writer.Transaction!, spaces);
            foreach (var w in batch) w.Run(writer);
            writer.Commit();
        }
        catch
        {
            writer.Rollback();
            throw;
        }
        // This instance's caches before the callers are answered (a revoked token is refused from the next request
        // on); the other instances' through the notification sent inside the transaction.
        foreach (var what in writer.TakeInvalidations()) RaiseInvalidated(what);
        foreach (var w in batch) w.Complete();
        try { AfterCommit(writer.Connection); }
        catch (DbException) { } // the next commit tries again
    }

    private abstract class WorkItem(string? space)
    {
        /// <summary>The Space this item touches (locked before the batch runs), or null for writes to no Space.</summary>
        public string? Space { get; } = space;
        public abstract void Run(IStoreTx tx);
        public abstract void Complete();
        public abstract void Fail(Exception e);
    }

    private sealed class WorkItem<T>(Func<IStoreTx, T> work, string? space) : WorkItem(space)
    {
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private LifecycleException? _refused;
        public Task<T> Task => _tcs.Task;

        public override void Run(IStoreTx tx)
        {
            (_result, _refused) = (default, null);
            try { _result = work(tx); }
            catch (LifecycleException e) { _refused = e; } // refused before writing: the batch goes on
        }

        public override void Complete()
        {
            if (_refused is not null) _tcs.TrySetException(_refused);
            else _tcs.TrySetResult(_result!);
        }

        public override void Fail(Exception e) => _tcs.TrySetException(e);
    }

    /// <summary>The writer's connection: commands are prepared once and reused (SQLite keeps the compiled statement).</summary>
    private sealed class Writer(SqlCoreStore store, DbConnection conn) : IStoreTx, IDisposable
    {
        private readonly Dictionary<string, DbCommand> _commands = new();
        private readonly List<string> _invalidations = [];
        private DbTransaction? _tx;

        public DbConnection Connection => conn;
        public DbTransaction? Transaction => _tx;

        public long NowMs => store.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        public void Begin() { _invalidations.Clear(); _tx = conn.BeginTransaction(); }
        public void Use(DbTransaction tx) => _tx = tx;
        public void Commit() { _tx!.Commit(); _tx.Dispose(); _tx = null; }
        public void Rollback() { try { _tx?.Rollback(); } catch { /* connection broken: disposed by the caller */ } _tx?.Dispose(); _tx = null; }

        private DbCommand Cmd(string sql, params object?[] values)
        {
            if (!_commands.TryGetValue(sql, out var cmd))
            {
                cmd = conn.CreateCommand();
                cmd.CommandText = sql;
                for (var i = 0; i < values.Length; i++)
                {
                    var p = cmd.CreateParameter();
                    p.ParameterName = "@p" + i;
                    cmd.Parameters.Add(p);
                }
                _commands[sql] = cmd;
            }
            cmd.Transaction = _tx;
            for (var i = 0; i < values.Length; i++) Bind(cmd.Parameters[i], values[i]);
            return cmd;
        }

        /// <summary>Records that cached copies of "token:HASH" / "space:ID" must go, here after the commit and on the
        /// other instances by a notification that the database delivers only if the transaction commits.</summary>
        private void Invalidate(string what)
        {
            _invalidations.Add(what);
            if (store.NotifyCommand is { } n) Cmd(n.Sql, n.Channel, what).ExecuteNonQuery();
        }

        public string[] TakeInvalidations()
        {
            var all = _invalidations.ToArray();
            _invalidations.Clear();
            return all;
        }

        public SpaceState? GetSpace(string id)
        {
            using var r = Cmd($"SELECT state, last_heartbeat_ms FROM spaces WHERE id = @p0{store.ForUpdate}", id).ExecuteReader();
            return r.Read() ? ReadSpace(r) : null;
        }

        public string? GetOwner(string id) => Cmd("SELECT owner FROM spaces WHERE id = @p0", id).ExecuteScalar() as string;

        public bool Heartbeat(string spaceId, long atMs, string? uid = null) => uid is null
            ? Cmd($"UPDATE spaces SET last_heartbeat_ms = {store.Greatest}(COALESCE(last_heartbeat_ms, 0), @p1) WHERE id = @p0", spaceId, atMs).ExecuteNonQuery() > 0
            : Cmd($"UPDATE spaces SET last_heartbeat_ms = {store.Greatest}(COALESCE(last_heartbeat_ms, 0), @p1) WHERE id = @p0 AND uid = @p2", spaceId, atMs, uid).ExecuteNonQuery() > 0;

        public bool TryInsertEvent(StoredEvent e) =>
            Cmd("INSERT INTO events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8) ON CONFLICT (space_id, source, event_id) DO NOTHING",
                e.SpaceId, e.Source, e.EventId, e.Kind, e.AtMs, e.ReceivedMs, e.StateChange ? 1 : 0, Typed(e.Payload), Typed(e.Detail)).ExecuteNonQuery() > 0;

        public IReadOnlyList<bool> TryInsertEvents(IReadOnlyList<StoredEvent> events)
        {
            var fresh = new bool[events.Count];
            var done = 0;
            // A few fixed row counts, so each SQL text is prepared once and reused (SQLite statement cache, PostgreSQL
            // auto-prepare) instead of one text per batch size.
            foreach (var rows in new[] { 64, 16, 4, 1 })
            {
                while (events.Count - done >= rows)
                {
                    var values = new object?[rows * 9];
                    for (var i = 0; i < rows; i++)
                    {
                        var e = events[done + i];
                        var v = i * 9;
                        (values[v], values[v + 1], values[v + 2], values[v + 3], values[v + 4], values[v + 5], values[v + 6], values[v + 7], values[v + 8]) =
                            (e.SpaceId, e.Source, e.EventId, e.Kind, e.AtMs, e.ReceivedMs, e.StateChange ? 1 : 0, Typed(e.Payload), Typed(e.Detail));
                    }
                    var inserted = new HashSet<(string, string, string)>();
                    using (var r = Cmd(MultiInsert(rows), values).ExecuteReader())
                        while (r.Read()) inserted.Add((r.GetString(0), r.GetString(1), r.GetString(2)));
                    // The same event twice in one statement is inserted once: its first occurrence is the fresh one.
                    for (var i = 0; i < rows; i++)
                    {
                        var e = events[done + i];
                        fresh[done + i] = inserted.Remove((e.SpaceId, e.Source, e.EventId));
                    }
                    done += rows;
                }
            }
            return fresh;
        }

        private static readonly Dictionary<int, string> MultiInserts = new[] { 64, 16, 4, 1 }.ToDictionary(n => n, n =>
            "INSERT INTO events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail) VALUES " +
            string.Join(", ", Enumerable.Range(0, n).Select(i => "(" + string.Join(", ", Enumerable.Range(i * 9, 9).Select(k => "@p" + k)) + ")")) +
            " ON CONFLICT (space_id, source, event_id) DO NOTHING RETURNING space_id, source, event_id");

        private static string MultiInsert(int rows) => MultiInserts[rows];

        public void InsertSpace(SpaceState s) =>
            Cmd("INSERT INTO spaces (id, uid, owner, stage, last_heartbeat_ms, state, updated_ms) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6)",
                s.Id, s.Uid, s.Owner, s.Stage.ToWire(), Typed(s.LastHeartbeatAtMs), CoreJson.State(s), NowMs).ExecuteNonQuery();

        public void UpdateSpace(SpaceState s) =>
            Cmd($"UPDATE spaces SET stage = @p1, state = @p2, updated_ms = @p3, last_heartbeat_ms = {store.Greatest}(COALESCE(last_heartbeat_ms, 0), COALESCE(CAST(@p4 AS BIGINT), 0)) WHERE id = @p0",
                s.Id, s.Stage.ToWire(), CoreJson.State(s), NowMs, Typed(s.LastHeartbeatAtMs)).ExecuteNonQuery();

        public void DeleteSpace(string id)
        {
            Cmd("DELETE FROM events WHERE space_id = @p0", id).ExecuteNonQuery();
            Cmd("DELETE FROM tokens WHERE space_id = @p0", id).ExecuteNonQuery();
            Cmd("DELETE FROM spaces WHERE id = @p0", id).ExecuteNonQuery();
            Invalidate("space:" + id); // its runner tokens, on every instance
        }

        public bool EventSeen(string spaceId, string source, string eventId) =>
            Cmd("SELECT 1 FROM events WHERE space_id = @p0 AND source = @p1 AND event_id = @p2", spaceId, source, eventId).ExecuteScalar() is not null;

        public StoredEvent? FindEvent(string spaceId, string source, string eventId)
        {
            using var r = Cmd("SELECT space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail, seq FROM events WHERE space_id = @p0 AND source = @p1 AND event_id = @p2", spaceId, source, eventId).ExecuteReader();
            return r.Read() ? ReadEvent(r) : null;
        }

        public void DeadLetterEvent(long seq, string reason) =>
            Cmd("UPDATE events SET state_change = 0, kind = 'dead:' || kind, detail = @p1 WHERE seq = @p0 AND state_change = 1", seq, reason).ExecuteNonQuery();

        public IReadOnlyList<StoredEvent> DeadLetters(string spaceId)
        {
            var list = new List<StoredEvent>();
            using var r = Cmd("SELECT space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail, seq FROM events WHERE space_id = @p0 AND state_change = 0 AND kind LIKE 'dead:%' ORDER BY seq", spaceId).ExecuteReader();
            while (r.Read()) list.Add(ReadEvent(r));
            return list;
        }

        public void InsertEvent(StoredEvent e) =>
            Cmd("INSERT INTO events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8)",
                e.SpaceId, e.Source, e.EventId, e.Kind, e.AtMs, e.ReceivedMs, e.StateChange ? 1 : 0, Typed(e.Payload), Typed(e.Detail)).ExecuteNonQuery();

        public IReadOnlyList<StoredEvent> StateEvents(string spaceId)
        {
            var list = new List<StoredEvent>();
            using var r = Cmd("SELECT space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail, seq FROM events WHERE space_id = @p0 AND state_change = 1 ORDER BY at_ms, seq", spaceId).ExecuteReader();
            while (r.Read()) list.Add(ReadEvent(r));
            return list;
        }

        public void AppendLedger(IEnumerable<LedgerRow> rows)
        {
            foreach (var row in rows)
            {
                var i = row.Interval;
                Cmd("INSERT INTO usage_ledger (space_id, space_uid, owner, requested_flavor, billed_flavor, hourly_micro_usd, start_ms, end_ms, sign, reason, recorded_ms) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9, @p10)",
                    i.SpaceId, i.SpaceUid, i.Owner, i.RequestedFlavor, i.BilledFlavor, i.HourlyMicroUsd, i.StartMs, i.EndMs, row.Sign, row.Reason, row.RecordedMs).ExecuteNonQuery();
            }
        }

        public IReadOnlyList<LedgerRow> Ledger(string spaceId, string uid)
        {
            var list = new List<LedgerRow>();
            using var r = Cmd($"SELECT {LedgerColumns} FROM usage_ledger WHERE space_id = @p0 AND space_uid = @p1 ORDER BY id", spaceId, uid).ExecuteReader();
            while (r.Read()) list.Add(ReadLedger(r));
            return list;
        }

        public void UpsertUser(string name, bool admin) =>
            Cmd("INSERT INTO users (name, admin, created_ms) VALUES (@p0, @p1, @p2) ON CONFLICT (name) DO UPDATE SET admin = excluded.admin",
                name, admin ? 1 : 0, NowMs).ExecuteNonQuery();

        public void InsertToken(string hash, string kind, string userName, string? spaceId, string? prefix = null, string? name = null, string? spaceUid = null) =>
            Cmd("INSERT INTO tokens (hash, kind, user_name, space_id, created_ms, prefix, name, space_uid) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7) ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind, user_name = excluded.user_name, space_id = excluded.space_id, prefix = excluded.prefix, name = excluded.name, space_uid = excluded.space_uid",
                hash, kind, userName, Typed(spaceId), NowMs, Typed(prefix), Typed(name), Typed(spaceUid)).ExecuteNonQuery();

        public IReadOnlyList<UserTokenRow> UserTokens(string user)
        {
            var list = new List<UserTokenRow>();
            using var r = Cmd("SELECT hash, prefix, COALESCE(name, 'seed'), created_ms FROM tokens WHERE user_name = @p0 AND kind = 'user' ORDER BY created_ms, hash", user).ExecuteReader();
            while (r.Read()) list.Add(new UserTokenRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.GetInt64(3)));
            return list;
        }

        public bool DeleteUserToken(string user, string hash)
        {
            if (Cmd("DELETE FROM tokens WHERE hash = @p0 AND user_name = @p1 AND kind = 'user'", hash, user).ExecuteNonQuery() == 0) return false;
            Invalidate("token:" + hash);
            return true;
        }

        public int DeleteHeartbeatsBelow(long seq, int limit) =>
            Cmd("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq < @p0 AND state_change = 0 ORDER BY seq LIMIT @p1)", seq, limit).ExecuteNonQuery();

        public IReadOnlyList<string> DeclareSeededUsers(IReadOnlyList<SeededUser> users)
        {
            // Seeded tokens: name 'seed', or NULL for tokens stored before names existed (they were all seeded).
            var dropped = new List<string>();
            var before = new List<string>();
            using (var r = Cmd("SELECT name FROM users WHERE seeded = 1").ExecuteReader())
                while (r.Read()) before.Add(r.GetString(0));
            foreach (var u in users)
            {
                foreach (var t in UserTokens(u.Name).Where(t => t.Name == Services.Tokens.SeedName && t.Hash != u.Hash))
                {
                    DeleteUserToken(u.Name, t.Hash);
                    dropped.Add(t.Hash);
                }
                Cmd("INSERT INTO users (name, admin, created_ms, seeded) VALUES (@p0, @p1, @p2, 1) ON CONFLICT (name) DO UPDATE SET admin = excluded.admin, seeded = 1",
                    u.Name, u.Admin ? 1 : 0, NowMs).ExecuteNonQuery();
                InsertToken(u.Hash, "user", u.Name, null, null, Services.Tokens.SeedName);
            }
            foreach (var gone in before.Except(users.Select(u => u.Name)))
            {
                foreach (var t in UserTokens(gone).Where(t => t.Name == Services.Tokens.SeedName))
                {
                    DeleteUserToken(gone, t.Hash);
                    dropped.Add(t.Hash);
                }
                Cmd("UPDATE users SET admin = 0, seeded = 0 WHERE name = @p0", gone).ExecuteNonQuery();
            }
            return dropped;
        }

        public IReadOnlyList<RunnerTokenRow> RunnerTokens(string spaceId)
        {
            var list = new List<RunnerTokenRow>();
            using var r = Cmd("SELECT hash, prefix, user_name, created_ms FROM tokens WHERE space_id = @p0 AND kind = 'runner' ORDER BY created_ms, hash", spaceId).ExecuteReader();
            while (r.Read()) list.Add(new RunnerTokenRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.GetInt64(3)));
            return list;
        }

        public bool DeleteRunnerToken(string spaceId, string hash)
        {
            if (Cmd("DELETE FROM tokens WHERE hash = @p0 AND space_id = @p1 AND kind = 'runner'", hash, spaceId).ExecuteNonQuery() == 0) return false;
            Invalidate("token:" + hash);
            return true;
        }

        public void InsertGrant(Grant g) =>
            Cmd("INSERT INTO grants (space_id, flavor, from_ms, to_ms, note, created_ms) VALUES (@p0, @p1, @p2, @p3, @p4, @p5)",
                g.SpaceId, g.Flavor, g.FromMs, g.ToMs, Typed(g.Note), NowMs).ExecuteNonQuery();

        public void Dispose()
        {
            foreach (var c in _commands.Values) c.Dispose();
            _commands.Clear();
        }
    }

    // ---------------------------------------------------------------- readers (own pooled connections)

    private const string LedgerColumns = "space_id, space_uid, owner, requested_flavor, billed_flavor, hourly_micro_usd, start_ms, end_ms, sign, reason, recorded_ms, id";

    private static SpaceState ReadSpace(DbDataReader r)
    {
        var s = CoreJson.ReadState(r.GetString(0));
        var hb = r.IsDBNull(1) ? (long?)null : r.GetInt64(1);
        return hb is > 0 && (s.LastHeartbeatAtMs ?? 0) < hb ? s with { LastHeartbeatAtMs = hb } : s;
    }

    private static StoredEvent ReadEvent(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3),
        r.GetInt64(4), r.GetInt64(5), Convert.ToInt64(r.GetValue(6)) != 0, r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetInt64(9));

    private static LedgerRow ReadLedger(DbDataReader r) => new(
        new UsageInterval(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7)),
        Convert.ToInt32(r.GetValue(8)), r.GetString(9), r.GetInt64(10), r.GetInt64(11));

    /// <summary>A null of a known type. PostgreSQL infers the type of an untyped parameter from its context when the
    /// statement is prepared (COALESCE(@p, 0) makes it integer), and an auto-prepared statement keeps that type: a
    /// later 64-bit value then fails with 22P03. So every parameter is sent with its type, nulls included.</summary>
    private sealed record TypedNull(DbType Type)
    {
        public static readonly TypedNull Int64 = new(DbType.Int64), Text = new(DbType.String);
    }

    private static object Typed(long? v) => v is { } x ? x : TypedNull.Int64;
    private static object Typed(string? v) => v ?? (object)TypedNull.Text;

    private static void Bind(DbParameter p, object? v)
    {
        switch (v)
        {
            case TypedNull n: p.DbType = n.Type; p.Value = DBNull.Value; break;
            case string x: p.DbType = DbType.String; p.Value = x; break;
            case long x: p.DbType = DbType.Int64; p.Value = x; break;
            case int x: p.DbType = DbType.Int32; p.Value = x; break;
            case null: p.Value = DBNull.Value; break; // untyped: only where a plain column fixes the type
            default: p.Value = v; break;
        }
    }

    private static void Run(DbConnection c, DbTransaction? tx, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static DbCommand Command(DbConnection c, string sql, params object?[] values)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        for (var i = 0; i < values.Length; i++)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = "@p" + i;
            Bind(p, values[i]);
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> read, CancellationToken ct, params object?[] values)
    {
        await using var c = await OpenAsync(ct);
        await using var cmd = Command(c, sql, values);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var list = new List<T>();
        while (await r.ReadAsync(ct)) list.Add(read(r));
        return list;
    }

    public async Task<SpaceState?> GetSpaceAsync(string id, CancellationToken ct = default) =>
        (await QueryAsync("SELECT state, last_heartbeat_ms FROM spaces WHERE id = @p0", ReadSpace, ct, id)).FirstOrDefault();

    public async Task<IReadOnlyList<SpaceState>> ListSpacesAsync(string? owner, CancellationToken ct = default) =>
        owner is null
            ? await QueryAsync("SELECT state, last_heartbeat_ms FROM spaces ORDER BY id", ReadSpace, ct)
            : await QueryAsync("SELECT state, last_heartbeat_ms FROM spaces WHERE owner = @p0 ORDER BY id", ReadSpace, ct, owner);

    public async Task<IReadOnlyList<SpaceState>> ListLiveSpacesAsync(CancellationToken ct = default) =>
        await QueryAsync("SELECT state, last_heartbeat_ms FROM spaces WHERE stage IN ('APP_STARTING', 'RUNNING', 'RUNNING_BUILDING', 'RUNNING_APP_STARTING') ORDER BY id", ReadSpace, ct);

    public async Task<Principal?> FindTokenAsync(string hash, CancellationToken ct = default) =>
        // A runner token's Space uid: stored with it, or (tokens from before uids were stored) the Space's current one.
        (await QueryAsync("SELECT t.kind, t.user_name, t.space_id, COALESCE(u.admin, 0), COALESCE(t.space_uid, s.uid) FROM tokens t LEFT JOIN users u ON u.name = t.user_name LEFT JOIN spaces s ON s.id = t.space_id WHERE t.hash = @p0",
            r => r.GetString(0) == "runner"
                ? Principal.Runner(r.GetString(2), r.GetString(1), r.IsDBNull(4) ? null : r.GetString(4))
                : Principal.User(r.GetString(1), Convert.ToInt64(r.GetValue(3)) != 0), ct, hash)).FirstOrDefault();

    private static string Scope(string? spaceId, string? owner, int firstParam) =>
        (spaceId is not null ? $" AND space_id = @p{firstParam}" : "") + (owner is not null ? $" AND owner = @p{firstParam + (spaceId is null ? 0 : 1)}" : "");

    private static object?[] ScopeArgs(long from, long to, string? spaceId, string? owner) =>
        new object?[] { from, to, spaceId, owner }.Where((v, i) => i < 2 || v is not null).ToArray();

    public async Task<IReadOnlyList<LedgerAggregate>> AggregateAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default)
    {
        var sql = $"SELECT space_id, owner, billed_flavor, hourly_micro_usd, SUM(sign * ({Least}(end_ms, @p1) - {Greatest}(start_ms, @p0))) " +
                  // "+start_ms": no index on time for this scan; a whole-period aggregate reads most rows, and a
                  // sequential scan beats one index probe per row. Space/owner scopes still use their own indexes.
                  $"FROM usage_ledger WHERE +start_ms < @p1 AND end_ms > @p0{Scope(spaceId, owner, 2)} " +
                  "GROUP BY space_id, owner, billed_flavor, hourly_micro_usd";
        return await QueryAsync(sql, r => new LedgerAggregate(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), Convert.ToInt64(r.GetValue(4))),
            ct, ScopeArgs(fromMs, toMs, spaceId, owner));
    }

    public async Task<IReadOnlyList<LedgerRow>> LedgerAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default) =>
        await QueryAsync($"SELECT {LedgerColumns} FROM usage_ledger WHERE start_ms < @p1 AND end_ms > @p0{Scope(spaceId, owner, 2)} ORDER BY id",
            ReadLedger, ct, ScopeArgs(fromMs, toMs, spaceId, owner));

    public async Task<IReadOnlyList<Grant>> GrantsAsync(long fromMs, long toMs, string? spaceId, string? owner, CancellationToken ct = default)
    {
        var ownerClause = owner is null ? "" : $" AND space_id IN (SELECT id FROM spaces WHERE owner = @p{(spaceId is null ? 2 : 3)})";
        return await QueryAsync($"SELECT space_id, flavor, from_ms, to_ms, note FROM grants WHERE from_ms < @p1 AND to_ms > @p0{(spaceId is null ? "" : " AND space_id = @p2")}{ownerClause} ORDER BY id",
            r => new Grant(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetString(4)),
            ct, ScopeArgs(fromMs, toMs, spaceId, owner));
    }

    public async Task<long> CountEventsAsync(string? spaceId, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await using var cmd = spaceId is null ? Command(c, "SELECT COUNT(*) FROM events") : Command(c, "SELECT COUNT(*) FROM events WHERE space_id = @p0", spaceId);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct));
    }

    public async Task<IReadOnlyList<StoredEvent>> EventsAsync(string spaceId, CancellationToken ct = default) =>
        await QueryAsync("SELECT space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail, seq FROM events WHERE space_id = @p0 ORDER BY seq",
            ReadEvent, ct, spaceId);

    /// <summary>
    /// Deletes heartbeat rows received before <paramref name="receivedBeforeMs"/>, in small batches through the writer
    /// (so ingest goes on between them). events.seq and received_ms grow together (one writer dates and numbers each
    /// row), so the old rows all sit below one seq, found by a binary search on the primary key rather than a scan.
    /// </summary>
    public async Task<int> PruneHeartbeatsAsync(long receivedBeforeMs, CancellationToken ct = default)
    {
        async Task<(long Seq, long Received)?> Row(string sql, long seq) =>
            (await QueryAsync(sql, r => (r.GetInt64(0), r.GetInt64(1)), ct, seq)) is [var row] ? row : null;
        const string first = "SELECT seq, received_ms FROM events WHERE seq >= @p0 ORDER BY seq LIMIT 1";
        if (await Row(first, long.MinValue) is not { } oldest || oldest.Received >= receivedBeforeMs) return 0;
        var newest = (await Row("SELECT seq, received_ms FROM events WHERE seq <= @p0 ORDER BY seq DESC LIMIT 1", long.MaxValue))!.Value;
        // Invariant: the row at lo is old; every row at or past hi is not.
        long lo = oldest.Seq, hi = newest.Received < receivedBeforeMs ? newest.Seq + 1 : newest.Seq;
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (await Row(first, mid) is { } r && r.Seq < hi && r.Received < receivedBeforeMs) lo = r.Seq;
            else hi = mid; // no row in [mid, r.Seq): the first at or past mid is new, or past hi
        }
        var boundary = hi;
        var deleted = 0;
        while (true)
        {
            var n = await WriteAsync(tx => tx.DeleteHeartbeatsBelow(boundary, 5000), ct);
            deleted += n;
            if (n < 5000) return deleted;
        }
    }

    public virtual async Task BulkInsertAsync(IEnumerable<StoredEvent> events, IEnumerable<LedgerRow> ledger, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        var w = new Writer(this, c);
        w.Use(tx); // the writer's statements, inside this one transaction
        foreach (var e in events) w.InsertEvent(e);
        w.AppendLedger(ledger);
        await tx.CommitAsync(ct);
        w.Dispose();
    }

    public virtual async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            try { await _writer.WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (TimeoutException) { await _stop.CancelAsync(); }
        }
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
