using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Core.Tests;

/// <summary>The token cache: single flight, invalidation by token and by Space, and no stale refill.</summary>
public class TokenCacheTests
{
    [Fact]
    public async Task ConcurrentMissesShareOneLookup()
    {
        var cache = new TokenCache(new ManualClock(ManualClock.Start));
        var gate = new TaskCompletionSource<Principal?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lookups = 0;
        Task<Principal?> Load(string h, CancellationToken ct) { Interlocked.Increment(ref lookups); return gate.Task; }
        var callers = Enumerable.Range(0, 50).Select(_ => cache.GetAsync("h1", Load, CancellationToken.None)).ToArray();
        gate.SetResult(Principal.Runner("alice/app", "alice"));
        var all = await Task.WhenAll(callers);
        Assert.Equal(1, lookups);
        Assert.All(all, p => Assert.Equal("alice/app", p!.SpaceId));
        await cache.GetAsync("h1", Load, CancellationToken.None); // cached now
        Assert.Equal(1, lookups);
    }

    [Fact]
    public async Task InvalidationDropsATokenAndTheTokensOfASpace()
    {
        var clock = new ManualClock(ManualClock.Start);
        var cache = new TokenCache(clock);
        var lookups = 0;
        Task<Principal?> Load(string h, CancellationToken ct)
        {
            Interlocked.Increment(ref lookups);
            return Task.FromResult<Principal?>(Principal.Runner(h == "other" ? "bob/x" : "alice/app", "alice"));
        }
        foreach (var h in new[] { "a", "b", "other" }) await cache.GetAsync(h, Load, CancellationToken.None);
        cache.Invalidate("token:a");
        await cache.GetAsync("a", Load, CancellationToken.None);
        Assert.Equal(4, lookups);
        cache.Invalidate("space:alice/app");
        foreach (var h in new[] { "a", "b", "other" }) await cache.GetAsync(h, Load, CancellationToken.None);
        Assert.Equal(6, lookups); // a and b again, "other" (another Space) still cached
        // Entries expire after 30 s +- 20 %: all gone after 37 s.
        clock.Advance(TimeSpan.FromSeconds(37));
        await cache.GetAsync("other", Load, CancellationToken.None);
        Assert.Equal(7, lookups);
    }

    [Fact]
    public async Task ALookupThatRacedAnInvalidationIsNotCached()
    {
        var cache = new TokenCache(new ManualClock(ManualClock.Start));
        var gate = new TaskCompletionSource<Principal?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lookups = 0;
        Task<Principal?> Load(string h, CancellationToken ct) => Interlocked.Increment(ref lookups) == 1 ? gate.Task : Task.FromResult<Principal?>(null);
        var first = cache.GetAsync("h", Load, CancellationToken.None);
        cache.Invalidate("token:h"); // revoked while the lookup read the row that was still there
        gate.SetResult(Principal.Runner("alice/app", "alice"));
        Assert.NotNull(await first);
        Assert.Null(await cache.GetAsync("h", Load, CancellationToken.None)); // looked up again, not served stale
        Assert.Equal(2, lookups);
    }
}

/// <summary>The PostgreSQL store's startup check of the connection budget against max_connections.</summary>
public class ConnectionBudgetTests
{
    [SkippableFact]
    public async Task APoolLargerThanTheServerAllowsIsAWarningNamingMaxConnections()
    {
        await using var db = TestDb.Create("postgres", b => b.MaxPoolSize = 1000);
        var log = new ListLogger();
        await using var store = new PostgresCoreStore(db.Spec["postgres:".Length..]) { Log = log };
        await store.InitializeAsync();
        Assert.Equal(1000, store.MaxPoolSize);
        var warning = Assert.Single(log.Lines, l => l.Level == LogLevel.Warning);
        Assert.Contains("max_connections", warning.Text);

        await using var db2 = TestDb.Create("postgres");
        var log2 = new ListLogger();
        await using var small = new PostgresCoreStore(db2.Spec["postgres:".Length..]) { Log = log2 };
        await small.InitializeAsync();
        Assert.Equal(PostgresCoreStore.DefaultMaxPoolSize, small.MaxPoolSize); // the documented default
        Assert.DoesNotContain(log2.Lines, l => l.Level >= LogLevel.Warning && l.Text.Contains("max_connections"));
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add((logLevel, formatter(state, exception)));
        }
    }
}
