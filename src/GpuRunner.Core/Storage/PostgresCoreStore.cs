using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace GpuRunner.Core.Storage;

/// <summary>
/// PostgreSQL, for operators who run several core instances on one database (behind a load balancer). What the
/// instances share goes through the database: each writer transaction locks its Spaces in one global order
/// (<see cref="LockSpaces"/>: transaction-level advisory locks, so a Space not created yet is covered too); cache
/// invalidations travel by NOTIFY on a channel of this database and schema; one instance, elected by a session-level
/// advisory lock, runs the time rules. Lock keys and the channel are derived from the database and schema, so
/// deployments (or test schemas) sharing a server never meet. A "Search Path" in the connection string selects (and
/// creates) a schema.
/// </summary>
public sealed class PostgresCoreStore : SqlCoreStore
{
    /// <summary>Maximum Pool Size per instance unless the connection string sets one. The writer holds one pooled
    /// connection; readers share the rest. Each instance also keeps two unpooled connections (notifications and
    /// the time-rules leadership), so an instance needs up to this + 2 of the server's max_connections.</summary>
    public const int DefaultMaxPoolSize = 25;
    public const int DedicatedConnections = 2;

    private readonly NpgsqlDataSource _source, _dedicated;
    private readonly string? _schema;
    private readonly string _describe, _channel, _appName, _appPrefix;
    private readonly bool _ownAppName;
    private readonly long _leaderKey, _schemaKey;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _leadGate = new(1, 1);
    private NpgsqlConnection? _leader;
    private Task? _listener;

    public int MaxPoolSize { get; }
    /// <summary>True once this instance holds the time-rules leadership (until it loses its connection).</summary>
    public bool IsLeader => _leader is not null;
    /// <summary>True while the notification listener is connected (cache invalidations from other instances arrive).</summary>
    public bool Listening { get; private set; }

    public PostgresCoreStore(string connectionString, TimeProvider? clock = null) : base(clock ?? TimeProvider.System)
    {
        NpgsqlConnectionStringBuilder b;
        try { b = new NpgsqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException e) { throw new ArgumentException($"bad PostgreSQL connection string: {e.Message}", e); }
        if (b.MaxAutoPrepare == 0) b.MaxAutoPrepare = 64; // server-side prepared statements for the hot SQL
        if (b.Timeout == 15) b.Timeout = 10;
        if (!Mentions(connectionString, "maximumpoolsize", "maxpoolsize")) b.MaxPoolSize = DefaultMaxPoolSize;
        // Instances name themselves so that each can count the others on the server (the max_connections check).
        _ownAppName = string.IsNullOrEmpty(b.ApplicationName);
        _schema = string.IsNullOrWhiteSpace(b.SearchPath) ? null : b.SearchPath;
        var scope = $"{b.Database}\0{_schema ?? "public"}";
        _appPrefix = $"gpurunner-core/{(ulong)Key(scope, "instances", ""):x8}"[..23] + "/";
        _appName = _ownAppName ? _appPrefix + Guid.NewGuid().ToString("n")[..8] : b.ApplicationName!;
        b.ApplicationName = _appName;
        MaxPoolSize = b.MaxPoolSize;
        _describe = $"postgres:Host={b.Host};Port={b.Port};Database={b.Database}{(_schema is null ? "" : ";Search Path=" + _schema)}";
        _leaderKey = Key(scope, "leader", "time-rules");
        _schemaKey = Key(scope, "schema", "");
        _spaceScope = scope;
        _channel = $"gpurunner_{(ulong)Key(scope, "channel", ""):x16}";
        _source = NpgsqlDataSource.Create(b.ConnectionString);
        // Long-held sessions: unpooled (closing one really ends the session and frees its session lock), with TCP
        // keepalive so a dead peer is noticed.
        _dedicated = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(b.ConnectionString) { Pooling = false, KeepAlive = 10 }.ConnectionString);
    }

    private readonly string _spaceScope;

    private static bool Mentions(string connectionString, params string[] keys)
    {
        var raw = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return raw.Keys.Cast<string>().Any(k => keys.Contains(k.Replace(" ", "").ToLowerInvariant()));
    }

    /// <summary>A 64-bit advisory-lock key (or channel id) for (database and schema, kind, name): the same on every
    /// instance, different for every other deployment on the server.</summary>
    private static long Key(string scope, string kind, string name) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"gpurunner\0{scope}\0{kind}\0{name}")), 0);

    public override string Kind => "postgres";
    public override string Describe => _describe;

    protected override DbConnection Open()
    {
        try { return _source.OpenConnection(); }
        catch (Exception e) when (IsOutOfConnections(e)) { throw OutOfConnections(e); }
    }

    protected override async ValueTask<DbConnection> OpenAsync(CancellationToken ct)
    {
        try { return await _source.OpenConnectionAsync(ct); }
        catch (Exception e) when (IsOutOfConnections(e)) { throw OutOfConnections(e); }
    }

    /// <summary>The pool's wait timed out, or the server refused a new session (53300 too many clients).</summary>
    private static bool IsOutOfConnections(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.TooManyConnections } || e is NpgsqlException { InnerException: TimeoutException };

    private static StoreUnavailableException OutOfConnections(Exception e) =>
        new("the database has no free connection right now; try again shortly", e);

    protected override void BeforeSchema(DbConnection c, DbTransaction tx)
    {
        using var cmd = (NpgsqlCommand)c.CreateCommand();
        cmd.Transaction = (NpgsqlTransaction)tx;
        // Several instances may start together: serialise schema creation (per database and schema).
        cmd.CommandText = "SELECT pg_advisory_xact_lock($1)";
        cmd.Parameters.Add(new NpgsqlParameter { Value = _schemaKey, NpgsqlDbType = NpgsqlDbType.Bigint });
        cmd.ExecuteNonQuery();
        cmd.Parameters.Clear();
        if (_schema is not null)
        {
            cmd.CommandText = $"CREATE SCHEMA IF NOT EXISTS \"{_schema.Replace("\"", "")}\"";
            cmd.ExecuteNonQuery();
        }
    }

    protected override void LockSpaces(DbConnection c, DbTransaction tx, IReadOnlyCollection<string> spaceIds)
    {
        // Ascending key order on every instance (the deadlock argument is in SqlCoreStore's summary). unnest yields
        // the array in order, so the locks are taken in that order; held until commit or rollback.
        var keys = spaceIds.Select(id => Key(_spaceScope, "space", id)).Distinct().Order().ToArray();
        using var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(k) FROM unnest($1) AS k", (NpgsqlConnection)c, (NpgsqlTransaction)tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = keys, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        cmd.ExecuteNonQuery();
    }

    protected override (string Sql, string Channel)? NotifyCommand => ("SELECT pg_notify(@p0, @p1)", _channel);

    protected override bool IsTransient(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure };

    protected override bool IsUniqueViolation(Exception e) => e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    protected override void StartBackground()
    {
        CheckConnectionBudget();
        _listener ??= Task.Run(ListenAsync);
    }

    /// <summary>Warns when this deployment's instances (same database and schema, as connected now, this one
    /// included) could together open more connections than the server allows.</summary>
    private void CheckConnectionBudget()
    {
        try
        {
            using var c = _source.OpenConnection();
            using var cmd = new NpgsqlCommand(
                "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int, " +
                "(SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE starts_with(application_name, $1))", c);
            cmd.Parameters.Add(new NpgsqlParameter { Value = _appPrefix, NpgsqlDbType = NpgsqlDbType.Text });
            using var r = cmd.ExecuteReader();
            r.Read();
            var (max, others) = (r.GetInt32(0), (int)r.GetInt64(1));
            var instances = _ownAppName ? Math.Max(1, others) : 1;
            var need = instances * (MaxPoolSize + DedicatedConnections);
            if (need > max)
                Log.LogWarning("{Instances} core instance(s) x (Maximum Pool Size {Pool} + {Dedicated}) = {Need} connections may exceed the server's max_connections ({Max} usable); lower Maximum Pool Size in --db or raise max_connections",
                    instances, MaxPoolSize, DedicatedConnections, need, max);
            else
                Log.LogInformation("connection budget: {Instances} core instance(s) x {PerInstance} <= {Max} usable connections", instances, MaxPoolSize + DedicatedConnections, max);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidCastException)
        {
            Log.LogWarning("could not check max_connections: {Error}", e.Message);
        }
    }

    /// <summary>
    /// LISTENs on this deployment's channel and forwards every payload ("token:HASH", "space:ID") to the caches.
    /// NOTIFY is sent inside the writer's transaction, so it arrives only if that committed, within milliseconds. A
    /// dropped connection may have lost notifications: the caches are emptied on each (re)connect.
    /// </summary>
    private async Task ListenAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await using var c = await _dedicated.OpenConnectionAsync(_stop.Token);
                c.Notification += (_, n) => RaiseInvalidated(n.Payload);
                await using (var cmd = new NpgsqlCommand($"LISTEN \"{_channel}\"", c)) await cmd.ExecuteNonQueryAsync(_stop.Token);
                Listening = true;
                RaiseInvalidated("*");
                backoff = TimeSpan.FromMilliseconds(200);
                while (true) await c.WaitAsync(_stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                if (Listening) Log.LogWarning("cache-invalidation listener lost its connection ({Error}); reconnecting", e.Message);
                Listening = false;
                RaiseInvalidated("*");
                try { await Task.Delay(backoff, _stop.Token); } catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
        Listening = false;
    }

    /// <summary>
    /// Time-rules leadership: a session-level advisory lock on an unpooled connection this instance keeps open. When
    /// the leader dies (crash, kill -9, lost network) its session ends, the server frees the lock, and the next
    /// instance to try takes it. A rule firing twice is harmless anyway (deterministic event ids, Space lock), so this
    /// only saves the followers the scan.
    /// </summary>
    public override async Task<bool> TryLeadAsync(CancellationToken ct = default)
    {
        await _leadGate.WaitAsync(ct);
        try
        {
            if (_leader is not null)
            {
                try
                {
                    await using var ping = new NpgsqlCommand("SELECT 1", _leader) { CommandTimeout = 5 };
                    await ping.ExecuteScalarAsync(ct);
                    return true;
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    Log.LogWarning("lost the time-rules leadership ({Error}); trying to take it again", e.Message);
                    await _leader.DisposeAsync();
                    _leader = null;
                }
            }
            var c = await _dedicated.OpenConnectionAsync(ct);
            try
            {
                await using var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", c) { CommandTimeout = 5 };
                cmd.Parameters.Add(new NpgsqlParameter { Value = _leaderKey, NpgsqlDbType = NpgsqlDbType.Bigint });
                if (await cmd.ExecuteScalarAsync(ct) is not true) return false;
                (_leader, c) = (c, null);
                Log.LogInformation("this instance now runs the time rules");
                return true;
            }
            finally { if (c is not null) await c.DisposeAsync(); }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            Log.LogWarning("time-rules leadership check failed ({Error}); skipping this tick", e.Message);
            return false;
        }
        finally { _leadGate.Release(); }
    }

    protected override string[] Schema =>
    [
        .. CommonSchema("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
        """
        CREATE OR REPLACE FUNCTION gpurunner_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'usage_ledger is append-only'; END $$
        """,
        "DROP TRIGGER IF EXISTS usage_ledger_append_only ON usage_ledger",
        "CREATE TRIGGER usage_ledger_append_only BEFORE UPDATE OR DELETE ON usage_ledger FOR EACH ROW EXECUTE FUNCTION gpurunner_append_only()",
    ];

    protected override bool TableExists(DbConnection c, DbTransaction tx, string table) =>
        Scalar(c, tx, "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = @p0", table) is not null;

    protected override bool ColumnExists(DbConnection c, DbTransaction tx, string table, string column) =>
        Scalar(c, tx, "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @p0 AND column_name = @p1", table, column) is not null;

    protected override string ForUpdate => " FOR UPDATE";
    protected override string Least => "LEAST";
    protected override string Greatest => "GREATEST";

    public override async Task BulkInsertAsync(IEnumerable<StoredEvent> events, IEnumerable<LedgerRow> ledger, CancellationToken ct = default)
    {
        // Binary COPY: the fast path PostgreSQL offers for bulk loads.
        await using var c = await _source.OpenConnectionAsync(ct);
        await using (var w = await c.BeginBinaryImportAsync("COPY events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload, detail) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var e in events)
            {
                await w.StartRowAsync(ct);
                await w.WriteAsync(e.SpaceId, ct); await w.WriteAsync(e.Source, ct); await w.WriteAsync(e.EventId, ct);
                await w.WriteAsync(e.Kind, ct); await w.WriteAsync(e.AtMs, ct); await w.WriteAsync(e.ReceivedMs, ct);
                await w.WriteAsync(e.StateChange ? 1 : 0, ct);
                if (e.Payload is null) await w.WriteNullAsync(ct); else await w.WriteAsync(e.Payload, ct);
                if (e.Detail is null) await w.WriteNullAsync(ct); else await w.WriteAsync(e.Detail, ct);
            }
            await w.CompleteAsync(ct);
        }
        await using (var w = await c.BeginBinaryImportAsync("COPY usage_ledger (space_id, space_uid, owner, requested_flavor, billed_flavor, hourly_micro_usd, start_ms, end_ms, sign, reason, recorded_ms) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var row in ledger)
            {
                var i = row.Interval;
                await w.StartRowAsync(ct);
                await w.WriteAsync(i.SpaceId, ct); await w.WriteAsync(i.SpaceUid, ct); await w.WriteAsync(i.Owner, ct);
                await w.WriteAsync(i.RequestedFlavor, ct); await w.WriteAsync(i.BilledFlavor, ct); await w.WriteAsync(i.HourlyMicroUsd, ct);
                await w.WriteAsync(i.StartMs, ct); await w.WriteAsync(i.EndMs, ct); await w.WriteAsync(row.Sign, ct);
                await w.WriteAsync(row.Reason, ct); await w.WriteAsync(row.RecordedMs, ct);
            }
            await w.CompleteAsync(ct);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _stop.CancelAsync();
        if (_listener is not null) await _listener;
        await _leadGate.WaitAsync();
        if (_leader is not null) await _leader.DisposeAsync(); // ends the session: another instance takes over
        _leader = null;
        _leadGate.Release();
        await _source.DisposeAsync();
        await _dedicated.DisposeAsync();
        _stop.Dispose();
    }
}
