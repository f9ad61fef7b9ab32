using GpuRunner.Core.Storage;

namespace GpuRunner.Core.Tests;

/// <summary>
/// Requests wait for a pooled PostgreSQL connection without holding a thread. With a blocking open, every request
/// waiting on an exhausted pool held a thread-pool thread; the continuations that would have given connections back
/// found no thread, and four instances under 256 runners stalled until the pool's timeout (15 events/s, every
/// runner failed) instead of serving thousands of events a second.
/// </summary>
public class PoolWaitTests
{
    [SkippableFact]
    public async Task AReadWaitingForAPooledConnectionReturnsAtOnceAndFailsAsUnavailable()
    {
        await using var db = TestDb.Create("postgres", b => { b.MaxPoolSize = 1; b.Timeout = 2; });
        await using var store = new PostgresCoreStore(db.Spec["postgres:".Length..]);
        await store.InitializeAsync();
        // The writer keeps its connection between batches: with a pool of one, it holds the only one.
        Assert.Null(await store.WriteAsync(tx => tx.GetSpace("alice/none")));

        var read = store.GetSpaceAsync("alice/none");
        Assert.False(read.IsCompleted, "the read blocked its caller while it waited for a connection");
        var token = store.FindTokenAsync("no-such-hash");
        Assert.False(token.IsCompleted, "the token lookup blocked its caller while it waited for a connection");
        // The pool's timeout still bounds the wait, and says so as 'unavailable' (503), never as a hang.
        await Assert.ThrowsAsync<StoreUnavailableException>(() => read);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => token);
    }
}
