using GpuRunner.Client;
using Microsoft.Data.Sqlite;

namespace GpuRunner.Cli.Exec;

/// <summary>One stored event: written before it is ever sent, deleted only once the core acknowledged it.</summary>
public sealed record OutboxEvent(long Seq, string EventId, RunnerRoute Route, string Body, int Attempts, DateTimeOffset CreatedAt);

public sealed record DeadLetter(string EventId, RunnerRoute Route, string Body, int? Status, string Reason, DateTimeOffset ParkedAt);

/// <summary>
/// The durable outbox: a SQLite file (WAL, synchronous=FULL) that holds every runner event until the core has
/// acknowledged it, in the order it was made. Events are keyed by target (core URL + space) so that a later run or
/// `gpurunner report` aimed at the same core and space sends what an earlier process left behind; the token is
/// never stored. Several processes may share the file (busy timeout); a double send is harmless because the core
/// deduplicates on the event id. Thread-safe.
/// </summary>
public sealed class Outbox : IDisposable
{
    public const string FileName = "outbox.db";

    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();

    public string Location { get; }
    public string Target { get; }
    /// <summary>False when the data directory was unusable and events only live in memory (said once in the log).</summary>
    public bool IsDurable { get; }

    private Outbox(SqliteConnection db, string location, string target, bool durable)
    {
        _db = db;
        Location = location;
        Target = target;
        IsDurable = durable;
    }

    public static string TargetOf(Uri core, string space) => $"{core.GetLeftPart(UriPartial.Path).TrimEnd('/')}|{space}";

    /// <summary>Opens (creating) the outbox in <paramref name="directory"/>.</summary>
    public static Outbox Open(string directory, string target)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString());
        try
        {
            db.Open();
            Init(db, wal: true);
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return new Outbox(db, path, target, durable: true);
    }

    /// <summary>An in-memory outbox: used only when no data directory is writable, so the app still runs.</summary>
    public static Outbox InMemory(string target)
    {
        var db = new SqliteConnection("Data Source=:memory:");
        db.Open();
        Init(db, wal: false);
        return new Outbox(db, ":memory:", target, durable: false);
    }

    /// <summary>
    /// Opens the outbox in the first usable of <paramref name="directories"/>; falls back to memory. The reason for
    /// each refusal goes to <paramref name="log"/>.
    /// </summary>
    public static Outbox OpenOrFallback(IEnumerable<string> directories, string target, Action<string> log)
    {
        foreach (var dir in directories)
        {
            try { return Open(dir, target); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
            {
                log($"outbox: cannot use {dir}: {e.Message}");
            }
        }
        log("outbox: no writable data directory (set GPURUNNER_DATA); events are kept in memory only and are lost if this process dies");
        return InMemory(target);
    }

    private static void Init(SqliteConnection db, bool wal)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = (wal ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" : "") + """
            PRAGMA busy_timeout=10000;
            CREATE TABLE IF NOT EXISTS events(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                target TEXT NOT NULL,
                event_id TEXT NOT NULL,
                route TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                UNIQUE(target, event_id));
            CREATE TABLE IF NOT EXISTS current_runs(
                target TEXT PRIMARY KEY,
                run_id TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS dead_letters(
                seq INTEGER PRIMARY KEY,
                target TEXT NOT NULL,
                event_id TEXT NOT NULL,
                route TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                status INTEGER,
                reason TEXT NOT NULL,
                parked_at TEXT NOT NULL);
            """;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Stores an event (committed to disk when this returns). Re-adding an id already stored is a no-op.</summary>
    public void Add(RunnerRoute route, string eventId, string body, DateTimeOffset now)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                INSERT OR IGNORE INTO events(target, event_id, route, body, created_at) VALUES ($t, $id, $r, $b, $c)
                """;
            cmd.Parameters.AddWithValue("$t", Target);
            cmd.Parameters.AddWithValue("$id", eventId);
            cmd.Parameters.AddWithValue("$r", route.ToString());
            cmd.Parameters.AddWithValue("$b", body);
            cmd.Parameters.AddWithValue("$c", now.UtcDateTime.ToString("O"));
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>The oldest pending event of this target, or null when nothing is pending.</summary>
    public OutboxEvent? Head() => Pending(1).FirstOrDefault();

    /// <summary>The oldest <paramref name="max"/> pending events of this target, oldest first.</summary>
    public IReadOnlyList<OutboxEvent> Pending(int max)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                SELECT seq, event_id, route, body, attempts, created_at FROM events WHERE target = $t ORDER BY seq LIMIT $n
                """;
            cmd.Parameters.AddWithValue("$t", Target);
            cmd.Parameters.AddWithValue("$n", max);
            using var r = cmd.ExecuteReader();
            var list = new List<OutboxEvent>();
            while (r.Read())
                list.Add(new OutboxEvent(r.GetInt64(0), r.GetString(1), Enum.Parse<RunnerRoute>(r.GetString(2)), r.GetString(3),
                    r.GetInt32(4), DateTimeOffset.Parse(r.GetString(5), System.Globalization.CultureInfo.InvariantCulture)));
            return list;
        }
    }

    public int PendingCount()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM events WHERE target = $t";
            cmd.Parameters.AddWithValue("$t", Target);
            return Convert.ToInt32(cmd.ExecuteScalar());
        }
    }

    /// <summary>The core acknowledged it (2xx, duplicates included): forget it.</summary>
    public void Acknowledge(long seq)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "DELETE FROM events WHERE seq = $s";
            cmd.Parameters.AddWithValue("$s", seq);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>A failed attempt that is worth repeating: count it and remember why.</summary>
    public void RecordFailure(long seq, string error)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "UPDATE events SET attempts = attempts + 1, last_error = $e WHERE seq = $s";
            cmd.Parameters.AddWithValue("$s", seq);
            cmd.Parameters.AddWithValue("$e", error);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>The core will never accept it: move it to dead_letters (kept for inspection, never resent).</summary>
    public void Park(long seq, int? status, string reason, DateTimeOffset now)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using (var cmd = _db.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT OR REPLACE INTO dead_letters(seq, target, event_id, route, body, created_at, attempts, status, reason, parked_at)
                    SELECT seq, target, event_id, route, body, created_at, attempts + 1, $st, $re, $now FROM events WHERE seq = $s;
                    DELETE FROM events WHERE seq = $s;
                    """;
                cmd.Parameters.AddWithValue("$s", seq);
                cmd.Parameters.AddWithValue("$st", (object?)status ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$re", reason);
                cmd.Parameters.AddWithValue("$now", now.UtcDateTime.ToString("O"));
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    public IReadOnlyList<DeadLetter> DeadLetters()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT event_id, route, body, status, reason, parked_at FROM dead_letters WHERE target = $t ORDER BY seq";
            cmd.Parameters.AddWithValue("$t", Target);
            using var r = cmd.ExecuteReader();
            var list = new List<DeadLetter>();
            while (r.Read())
                list.Add(new DeadLetter(r.GetString(0), Enum.Parse<RunnerRoute>(r.GetString(1)), r.GetString(2),
                    r.IsDBNull(3) ? null : r.GetInt32(3), r.GetString(4),
                    DateTimeOffset.Parse(r.GetString(5), System.Globalization.CultureInfo.InvariantCulture)));
            return list;
        }
    }

    /// <summary>
    /// Records the run an `exec` process is reporting for, so that `gpurunner report` on the same machine attaches its
    /// device report to that run instead of registering a new one (which would make the running exec's events stale).
    /// </summary>
    public void SetCurrentRun(string runId, int pid, DateTimeOffset now)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "INSERT OR REPLACE INTO current_runs(target, run_id, pid, started_at) VALUES ($t, $r, $p, $s)";
            cmd.Parameters.AddWithValue("$t", Target);
            cmd.Parameters.AddWithValue("$r", runId);
            cmd.Parameters.AddWithValue("$p", pid);
            cmd.Parameters.AddWithValue("$s", now.UtcDateTime.ToString("O"));
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>The run of a live `exec` process for this target, or null.</summary>
    public string? LiveRun(Func<int, bool>? isAlive = null)
    {
        isAlive ??= pid => pid != Environment.ProcessId && Directory.Exists($"/proc/{pid}");
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT run_id, pid FROM current_runs WHERE target = $t";
            cmd.Parameters.AddWithValue("$t", Target);
            using var r = cmd.ExecuteReader();
            return r.Read() && isAlive(r.GetInt32(1)) ? r.GetString(0) : null;
        }
    }

    public void ClearCurrentRun(string runId)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "DELETE FROM current_runs WHERE target = $t AND run_id = $r";
            cmd.Parameters.AddWithValue("$t", Target);
            cmd.Parameters.AddWithValue("$r", runId);
            cmd.ExecuteNonQuery();
        }
    }

    public void Dispose()
    {
        lock (_gate) _db.Dispose();
    }
}
