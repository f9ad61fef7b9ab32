using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace GpuRunner.Core.Storage;

/// <summary>
/// The default store: one SQLite file in WAL mode (readers never block the writer). Durability: with
/// synchronous=FULL (default) a commit is on disk before the writer acknowledges it, so acknowledged events survive
/// a process crash and a power loss; group commit keeps that to one fsync per batch. synchronous=NORMAL (opt-in)
/// skips the fsync per commit: still safe against a killed process (the WAL is in the OS cache), but a power loss
/// may drop the last commits.
/// </summary>
public sealed class SqliteCoreStore(string path, TimeProvider? clock = null, bool fsyncEachCommit = true) : SqlCoreStore(clock ?? TimeProvider.System)
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = Path.GetFullPath(path), Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30,
    }.ToString();

    public string Path_ { get; } = System.IO.Path.GetFullPath(path);
    public override string Kind => "sqlite";
    public override string Describe => $"sqlite:{Path_} (synchronous={(fsyncEachCommit ? "FULL" : "NORMAL")})";

    protected override DbConnection Open()
    {
        var dir = System.IO.Path.GetDirectoryName(Path_);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var c = new SqliteConnection(_connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        // wal_autocheckpoint=0: no connection of ours checkpoints when it commits (SQLite's default makes the commit
        // that crosses 1000 WAL pages copy them into the database and fsync it, a stall of tens of ms on the writer);
        // the checkpoint loop below does it on its own connection instead.
        // journal_size_limit: when the WAL restarts, its file is cut back to this size instead of keeping its peak.
        cmd.CommandText = $"PRAGMA journal_mode=WAL; PRAGMA synchronous={(fsyncEachCommit ? "FULL" : "NORMAL")}; PRAGMA busy_timeout=10000; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WalLimitBytes};";
        cmd.ExecuteNonQuery();
        return c;
    }

    /// <summary>The WAL is checkpointed and truncated once it grows past this (default 64 MiB).</summary>
    public long WalLimitBytes { get; init; } = 64L << 20;
    private long _truncations;
    /// <summary>How many times the WAL was truncated (metrics, tests).</summary>
    public long WalTruncations => Interlocked.Read(ref _truncations);

    /// <summary>
    /// Keeps the WAL bounded. The PASSIVE checkpoints below copy pages into the database but can never let the WAL
    /// start over while the writer keeps appending: SQLite rewinds it only when a write transaction begins after a
    /// checkpoint that copied everything, and under steady ingest a new commit always lands first. So the WAL grew
    /// without bound (GBs in minutes) although nothing else pinned it. Here, between two of its own batches, the
    /// writer runs a TRUNCATE checkpoint when the file has passed <see cref="WalLimitBytes"/>: no other writer can
    /// slip in, readers are short, and the passive loop has already copied most pages, so it is quick. The WAL then
    /// stays under the limit plus one batch.
    /// </summary>
    protected override void AfterCommit(DbConnection conn)
    {
        long size;
        try { size = new FileInfo(Path_ + "-wal").Length; }
        catch (IOException) { return; }
        if (size <= WalLimitBytes) return;
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
        using var r = cmd.ExecuteReader();
        if (r.Read() && r.GetInt32(0) == 0) Interlocked.Increment(ref _truncations); // busy = 1: a reader was mid-query; next commit
    }

    private readonly CancellationTokenSource _stopCheckpoints = new();
    private Task? _checkpoints;

    /// <summary>
    /// Checkpoints the WAL every 250 ms on a connection of its own (PASSIVE: never blocks the writer or readers). A
    /// checkpoint copies committed pages into the database file; durability does not depend on it (a commit is
    /// durable once its WAL frames are synced), only the WAL's size and read speed do.
    /// </summary>
    protected override void StartBackground() => _checkpoints ??= Task.Run(async () =>
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        SqliteConnection? c = null;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopCheckpoints.Token))
            {
                try
                {
                    c ??= (SqliteConnection)Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
                    cmd.ExecuteNonQuery();
                }
                catch (SqliteException) { c?.Dispose(); c = null; } // busy or I/O trouble: the next tick tries again
            }
        }
        catch (OperationCanceledException) { }
        finally { c?.Dispose(); }
    });

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync(); // the writer has finished
        await _stopCheckpoints.CancelAsync();
        if (_checkpoints is not null) await _checkpoints;
        _stopCheckpoints.Dispose();
        try
        {
            // Leave a compact database behind: everything copied in, the WAL emptied.
            using var c = (SqliteConnection)Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            cmd.ExecuteNonQuery();
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException) { }
    }

    protected override string[] Schema =>
    [
        .. CommonSchema("INTEGER PRIMARY KEY"),
        // The ledger is append-only: corrections are compensating rows, never edits.
        "CREATE TRIGGER IF NOT EXISTS usage_ledger_no_update BEFORE UPDATE ON usage_ledger BEGIN SELECT RAISE(ABORT, 'usage_ledger is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS usage_ledger_no_delete BEFORE DELETE ON usage_ledger BEGIN SELECT RAISE(ABORT, 'usage_ledger is append-only'); END",
    ];

    protected override bool TableExists(DbConnection c, DbTransaction tx, string table) =>
        Scalar(c, tx, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = @p0", table) is not null;

    protected override bool ColumnExists(DbConnection c, DbTransaction tx, string table, string column) =>
        Scalar(c, tx, $"SELECT 1 FROM pragma_table_info('{table}') WHERE name = @p0", column) is not null;

    // SQLITE_CONSTRAINT_UNIQUE / SQLITE_CONSTRAINT_PRIMARYKEY
    protected override bool IsUniqueViolation(Exception e) => e is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };

    protected override string Least => "MIN";
    protected override string Greatest => "MAX";
}
