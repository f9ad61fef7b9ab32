using GpuRunner.Core.Storage;

namespace GpuRunner.Core.Tests;

/// <summary>Disk stays bounded: the SQLite WAL under sustained writes with concurrent readers, and heartbeat retention.</summary>
public class StoreBoundsTests
{
    [Fact]
    public async Task TheSqliteWalStaysBoundedUnderSustainedWritesWithConcurrentReaders()
    {
        const long limit = 256 << 10;
        // The same load twice: with no effective limit (what the core did before: PASSIVE checkpoints only) the WAL
        // holds about everything written; with the limit it stays within a few batches of it.
        var (unbounded, _, _) = await LoadAsync(long.MaxValue);
        var (bounded, written, truncations) = await LoadAsync(limit);
        Assert.True(written > 30 * limit, $"wrote {written} bytes");
        Assert.True(unbounded > 16 * limit, $"without a limit the WAL reached only {unbounded} bytes: the load does not show the problem");
        Assert.True(bounded < 8 * limit, $"the WAL reached {bounded} bytes for a limit of {limit} after {written} bytes written (unbounded: {unbounded})");
        Assert.True(truncations > 0);
    }

    /// <summary>4 writers × 40 transactions of 64 rows of 2 KB, 2 readers all along; returns the largest WAL seen.</summary>
    private static async Task<(long MaxWal, long Written, long Truncations)> LoadAsync(long limit)
    {
        await using var db = TestDb.Create("sqlite");
        var store = new SqliteCoreStore(db.Spec["sqlite:".Length..], TimeProvider.System) { WalLimitBytes = limit };
        await using var _ = store;
        await store.InitializeAsync();
        var wal = db.Spec["sqlite:".Length..] + "-wal";
        var payload = new string('x', 2000);
        long written = 0, maxWal = 0;
        using var stop = new CancellationTokenSource();
        // Readers all along, as the pages and /metrics would read.
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await store.CountEventsAsync("s/a");
        })).ToArray();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                var rows = Enumerable.Range(0, 64).Select(k => new StoredEvent("s/a", "run:r", $"{w}-{i}-{k}", "heartbeat", i, i, false, payload)).ToList();
                await store.WriteAsync(tx => tx.TryInsertEvents(rows));
                Interlocked.Add(ref written, rows.Count * payload.Length);
                var size = File.Exists(wal) ? new FileInfo(wal).Length : 0;
                long seen;
                do seen = Interlocked.Read(ref maxWal); while (size > seen && Interlocked.CompareExchange(ref maxWal, size, seen) != seen);
            }
        })).ToArray();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.Equal(4 * 40 * 64, await store.CountEventsAsync("s/a"));
        return (maxWal, written, store.WalTruncations);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task HeartbeatsOlderThanTheRetentionGoAndStateEventsStay(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        for (var i = 0; i < 30; i++) await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() });
        c.Clock.Advance(TimeSpan.FromDays(3));
        for (var i = 0; i < 7; i++) await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() });
        var before = await c.Store.EventsAsync("alice/app");
        Assert.Equal(37, before.Count(e => e.Kind == "heartbeat"));

        var pruned = await c.Service.PruneHeartbeatsAsync(TimeSpan.FromDays(2));
        Assert.Equal(30, pruned);
        var after = await c.Store.EventsAsync("alice/app");
        Assert.Equal(7, after.Count(e => e.Kind == "heartbeat"));
        Assert.Equal(before.Where(e => e.StateChange).Select(e => e.Seq), after.Where(e => e.StateChange).Select(e => e.Seq));
        Assert.Equal(0, await c.Service.PruneHeartbeatsAsync(TimeSpan.FromDays(2))); // nothing left to do
        // The Space and its bill are as they were.
        var rt = await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
    }
}
