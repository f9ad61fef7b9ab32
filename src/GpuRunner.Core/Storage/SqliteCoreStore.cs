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
        cmd.CommandText = $"PRAGMA journal_mode=WAL; PRAGMA synchronous={(fsyncEachCommit ? "FULL" : "NORMAL")}; PRAGMA busy_timeout=10000;";
        cmd.ExecuteNonQuery();
        return c;
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

    protected override string Least => "MIN";
    protected override string Greatest => "MAX";
}
