using System.Collections.Concurrent;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Services;

/// <summary>
/// Token hash -> principal, so a runner fleet's thousands of events per second cost no token lookup each. Entries
/// expire after a jittered time (so a fleet's entries, filled together, do not all expire in one tick and send one
/// burst of lookups); one lookup per hash is in flight at a time, and the other callers wait for it (single flight).
/// Revocation does not wait for expiry: <see cref="Invalidate"/> drops entries on this instance, and the store's
/// notifications call it on every other instance.
/// </summary>
public sealed class TokenCache(TimeProvider clock)
{
    /// <summary>How long a found principal / an unknown token stays cached (each entry gets +-20 % jitter).</summary>
    public static readonly TimeSpan HitTtl = TimeSpan.FromSeconds(30), MissTtl = TimeSpan.FromSeconds(2);
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<string, (Principal? P, long Until)> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<Principal?>>> _inFlight = new(StringComparer.Ordinal);
    // Bumped by every invalidation: a lookup that started before one must not cache what it read.
    private long _generation;

    public async Task<Principal?> GetAsync(string hash, Func<string, CancellationToken, Task<Principal?>> load, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (_entries.TryGetValue(hash, out var hit) && hit.Until > now) return hit.P;
        var lazy = _inFlight.GetOrAdd(hash, h => new Lazy<Task<Principal?>>(() => LoadAsync(h, load)));
        return await lazy.Value.WaitAsync(ct);
    }

    private async Task<Principal?> LoadAsync(string hash, Func<string, CancellationToken, Task<Principal?>> load)
    {
        var generation = Interlocked.Read(ref _generation);
        try
        {
            // Not the first caller's token: the others wait for this lookup too. Bounded on its own.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            var p = await load(hash, timeout.Token);
            if (Interlocked.Read(ref _generation) == generation)
            {
                if (_entries.Count > MaxEntries) _entries.Clear();
                var ttl = (p is null ? MissTtl : HitTtl).TotalMilliseconds * (0.8 + 0.4 * Random.Shared.NextDouble());
                _entries[hash] = (p, clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)ttl);
            }
            return p;
        }
        finally
        {
            _inFlight.TryRemove(hash, out _);
        }
    }

    /// <summary>"token:HASH" drops one token, "space:ID" the runner tokens of a Space, anything else everything.</summary>
    public void Invalidate(string what)
    {
        Interlocked.Increment(ref _generation);
        if (what.StartsWith("token:", StringComparison.Ordinal)) _entries.TryRemove(what[6..], out _);
        else if (what.StartsWith("space:", StringComparison.Ordinal))
        {
            var id = what[6..];
            foreach (var (hash, e) in _entries)
                if (e.P is { Kind: PrincipalKind.Runner } p && p.SpaceId == id) _entries.TryRemove(hash, out _);
        }
        else _entries.Clear();
    }
}
