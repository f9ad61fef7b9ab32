using System.Data.Common;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Tests;

/// <summary>The storage contract, the same suite on SQLite and PostgreSQL.</summary>
public class StoreTests
{
    private static UsageInterval Interval(string space, long start, long end, string flavor = "t4-small", long price = 600_000, string owner = "alice") =>
        new(space, "u-" + space, owner, flavor, flavor, price, start, end);

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task LedgerIsAppendOnlyAndCompensationsNet(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        var i = Interval("alice/app", 0, 3_600_000);
        await store.WriteAsync(tx => { tx.AppendLedger([new LedgerRow(i, +1, "metered", 1), new LedgerRow(i, -1, "compensation", 2), new LedgerRow(i with { EndMs = 1_800_000 }, +1, "fix", 2)]); return 0; });
        var agg = Assert.Single(await store.AggregateAsync(0, 10_000_000, "alice/app", null));
        Assert.Equal(1_800_000, agg.MeteredMs);
        // Clipped to a period:
        Assert.Equal(600_000, Assert.Single(await store.AggregateAsync(1_200_000, 5_000_000, null, "alice")).MeteredMs);
        Assert.Empty(await store.AggregateAsync(0, 10_000_000, null, "bob"));
        // Any edit is refused by the database itself (a separate connection, as an operator's SQL would be).
        var e = await Assert.ThrowsAnyAsync<DbException>(() => tdb.ExecAsync("UPDATE usage_ledger SET sign = 1"));
        Assert.Contains("append-only", e.Message);
        await Assert.ThrowsAnyAsync<DbException>(() => tdb.ExecAsync("DELETE FROM usage_ledger"));
        Assert.Equal(3, (await store.LedgerAsync(0, 10_000_000, "alice/app", null)).Count);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task ADatabaseFromBeforeTokenPrefixesGainsTheColumnAndKeepsItsTokens(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using (var first = tdb.Open(TimeProvider.System)) await first.InitializeAsync();
        // The tokens table as the first release made it, with a runner token in it.
        await tdb.ExecAsync("ALTER TABLE tokens DROP COLUMN prefix");
        await tdb.ExecAsync("INSERT INTO tokens (hash, kind, user_name, space_id, created_ms) VALUES ('ab12', 'runner', 'alice', 'alice/app', 5)");
        await using var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        var old = Assert.Single(await store.WriteAsync(tx => tx.RunnerTokens("alice/app")));
        Assert.Equal(new RunnerTokenRow("ab12", null, "alice", 5), old);
        Assert.Equal("alice/app", (await store.FindTokenAsync("ab12"))!.SpaceId);
        await store.WriteAsync(tx => { tx.InsertToken("cd34", "runner", "alice", "alice/app", "grr_AbCd"); return 0; });
        Assert.Equal([null, "grr_AbCd"], (await store.WriteAsync(tx => tx.RunnerTokens("alice/app"))).Select(t => t.Prefix));
        Assert.True(await store.WriteAsync(tx => tx.DeleteRunnerToken("alice/app", "ab12")));
        Assert.False(await store.WriteAsync(tx => tx.DeleteRunnerToken("alice/other", "cd34"))); // another Space's id does not reach it
        Assert.Null(await store.FindTokenAsync("ab12"));
    }

    [Fact]
    public async Task SqliteCheckpointsOffTheWritersPathAndLeavesAnEmptyWal()
    {
        await using var tdb = TestDb.Create("sqlite");
        var path = tdb.Spec["sqlite:".Length..];
        var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        for (var b = 0; b < 20; b++)
            await store.WriteAsync(tx =>
            {
                for (var i = 0; i < 500; i++) tx.InsertEvent(new StoredEvent("a/b", "s", $"e{b}-{i}", "heartbeat", 1, 1, false, new string('x', 200)));
                return 0;
            });
        // The background loop copies the WAL into the database while the store runs (PASSIVE, every 250 ms) ...
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (new FileInfo(path).Length < 1_000_000 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(new FileInfo(path).Length >= 1_000_000, "the database file grew: the WAL was checkpointed");
        await store.DisposeAsync();
        // ... and closing leaves everything in the database and an empty WAL.
        Assert.True(!File.Exists(path + "-wal") || new FileInfo(path + "-wal").Length == 0);
        await using var again = tdb.Open(TimeProvider.System);
        await again.InitializeAsync();
        Assert.Equal(10_000, await again.CountEventsAsync(null));
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task EventsAreDeduplicatedOnSpaceSourceAndId(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        StoredEvent Ev(string space, string source, string id) => new(space, source, id, "heartbeat", 1, 1, false, null);
        await store.WriteAsync(tx => { tx.InsertEvent(Ev("a/b", "run:1", "e1")); return 0; });
        // The same id from another source or Space is a different event; the same triple is refused by the unique key.
        await store.WriteAsync(tx => { tx.InsertEvent(Ev("a/b", "run:2", "e1")); tx.InsertEvent(Ev("a/c", "run:1", "e1")); return 0; });
        Assert.True(await store.WriteAsync(tx => tx.EventSeen("a/b", "run:1", "e1")));
        Assert.False(await store.WriteAsync(tx => tx.EventSeen("a/b", "run:3", "e1")));
        // A unique violation that gets past the work's own checks is a lost race: a conflict (409), never a 500.
        var dup = await Assert.ThrowsAsync<LifecycleException>(() => store.WriteAsync(tx => { tx.InsertEvent(Ev("a/b", "run:1", "e1")); return 0; }));
        Assert.Equal(LifecycleErrorKind.Conflict, dup.Kind);
        Assert.Equal(3, await store.CountEventsAsync(null));
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task MultiRowInsertsTellFreshFromDuplicateRowByRow(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        StoredEvent Ev(string id, string source = "run:1") => new("a/b", source, id, "heartbeat", 1, 1, false, id == "e3" ? null : "[]");
        await store.WriteAsync(tx => tx.TryInsertEvent(Ev("e5")));
        // 87 rows = 64 + 16 + 4 + 1 + 1 + 1: every statement size; e5 is already stored, e7 comes twice, e9 from two runs.
        var list = Enumerable.Range(0, 85).Select(i => Ev("e" + i)).Append(Ev("e7")).Append(Ev("e9", "run:2")).ToList();
        var fresh = await store.WriteAsync(tx => tx.TryInsertEvents(list));
        Assert.Equal(list.Count, fresh.Count);
        for (var i = 0; i < list.Count; i++)
            Assert.True(fresh[i] == (list[i].EventId != "e5" && i != 85), $"row {i} ({list[i].Source} {list[i].EventId}): {fresh[i]}");
        Assert.Equal(1 + 84 + 1, await store.CountEventsAsync("a/b")); // e5 before; e0..e84 but e5; e9 of run 2
        Assert.All(await store.WriteAsync(tx => tx.TryInsertEvents(list)), f => Assert.False(f)); // all known now
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task APoisonItemFailsAloneWhileItsBatchCommits(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using var store = tdb.Open(TimeProvider.System);
        await store.InitializeAsync();
        var tasks = Enumerable.Range(0, 50).Select(i => store.WriteAsync(tx =>
        {
            if (i == 25) throw new InvalidOperationException("poison");
            if (i == 30) throw new LifecycleException(LifecycleErrorKind.RuleBroken, "refused");
            tx.InsertEvent(new StoredEvent("a/b", "s", "e" + i, "heartbeat", 1, 1, false, null));
            return i;
        })).ToArray();
        foreach (var (t, i) in tasks.Select((t, i) => (t, i)))
        {
            if (i == 25) await Assert.ThrowsAsync<InvalidOperationException>(() => t);
            else if (i == 30) await Assert.ThrowsAsync<LifecycleException>(() => t);
            else Assert.Equal(i, await t);
        }
        Assert.Equal(48, await store.CountEventsAsync("a/b"));
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task DataSurvivesReopeningAndTokensAreHashed(string db)
    {
        await using var tdb = TestDb.Create(db);
        await using (var store = tdb.Open(TimeProvider.System))
        {
            await store.InitializeAsync();
            await store.WriteAsync(tx => { tx.UpsertUser("alice", false); tx.InsertToken(Services.Tokens.Hash("secret-token-1"), "user", "alice", null); return 0; });
            await store.BulkInsertAsync([new StoredEvent("a/b", "s", "bulk", "heartbeat", 5, 5, false, "[]")], [new LedgerRow(Interval("a/b", 0, 60_000), 1, "bulk", 1)]);
        }
        await using (var store = tdb.Open(TimeProvider.System))
        {
            await store.InitializeAsync(); // idempotent schema
            Assert.Equal("alice", (await store.FindTokenAsync(Services.Tokens.Hash("secret-token-1")))!.Name);
            Assert.Null(await store.FindTokenAsync("secret-token-1"));
            Assert.Equal(1, await store.CountEventsAsync("a/b"));
            Assert.Equal(60_000, Assert.Single(await store.AggregateAsync(0, 100_000, "a/b", null)).MeteredMs);
        }
    }
}
