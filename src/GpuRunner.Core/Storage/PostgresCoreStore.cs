using System.Data.Common;
using Npgsql;

namespace GpuRunner.Core.Storage;

/// <summary>
/// PostgreSQL, for operators who run several core instances on one database: the Space row is locked
/// (SELECT ... FOR UPDATE) while an event is applied, so two instances never apply events of one Space at once,
/// and dedup stays exact. A "Search Path" in the connection string selects (and creates) a schema.
/// </summary>
public sealed class PostgresCoreStore : SqlCoreStore
{
    private readonly NpgsqlDataSource _source;
    private readonly string? _schema;
    private readonly string _describe;

    public PostgresCoreStore(string connectionString, TimeProvider? clock = null) : base(clock ?? TimeProvider.System)
    {
        NpgsqlConnectionStringBuilder b;
        try { b = new NpgsqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException e) { throw new ArgumentException($"bad PostgreSQL connection string: {e.Message}", e); }
        if (b.MaxAutoPrepare == 0) b.MaxAutoPrepare = 64; // server-side prepared statements for the hot SQL
        if (b.Timeout == 15) b.Timeout = 10;
        _schema = string.IsNullOrWhiteSpace(b.SearchPath) ? null : b.SearchPath;
        _describe = $"postgres:Host={b.Host};Port={b.Port};Database={b.Database}{(_schema is null ? "" : ";Search Path=" + _schema)}";
        _source = NpgsqlDataSource.Create(b.ConnectionString);
    }

    public override string Kind => "postgres";
    public override string Describe => _describe;

    protected override DbConnection Open() => _source.OpenConnection();

    protected override void BeforeSchema(DbConnection c, DbTransaction tx)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        // Several instances may start together: serialise schema creation.
        cmd.CommandText = "SELECT pg_advisory_xact_lock(7460210)";
        cmd.ExecuteNonQuery();
        if (_schema is not null)
        {
            cmd.CommandText = $"CREATE SCHEMA IF NOT EXISTS \"{_schema.Replace("\"", "")}\"";
            cmd.ExecuteNonQuery();
        }
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
        await _source.DisposeAsync();
    }
}
