using System.Collections.Concurrent;

namespace GpuRunner.Core.Services;

/// <summary>
/// Slows down token guessing on the API and the login form. Failed authentications are counted per client address
/// and per token prefix (its first 8 characters: a runner token's public prefix, so guessing the rest of a known
/// token is counted as one target from any number of addresses). Past <c>maxFailures</c> in <c>window</c>, further
/// attempts from that address or with that prefix get 429 with Retry-After, without a database lookup.
/// A token that authenticated within the last 24 h is never throttled: wrong tokens sent from a shared address (a
/// NAT, a CI runner pool) or with the same prefix must not lock its owner out.
/// Memory is bounded: each table is cleared when it passes <see cref="MaxKeys"/> entries.
/// </summary>
public sealed class AuthThrottle(TimeProvider clock, int maxFailures = 20, TimeSpan? window = null)
{
    public const int MaxKeys = 100_000;
    public const int PrefixLength = 8;
    public static readonly TimeSpan TrustedFor = TimeSpan.FromHours(24);

    private readonly long _windowMs = (long)(window ?? TimeSpan.FromMinutes(5)).TotalMilliseconds;
    private readonly ConcurrentDictionary<string, (int Count, long SinceMs)> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _lastValid = new(StringComparer.Ordinal);

    private long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Seconds until an attempt with <paramref name="token"/> (hash <paramref name="hash"/>) from
    /// <paramref name="client"/> is looked at again; 0: go ahead.</summary>
    public long RetryAfterSeconds(string client, string token, string hash)
    {
        var wait = Math.Max(Locked("a:" + client), Locked(PrefixKey(token)));
        if (wait == 0) return 0;
        return _lastValid.TryGetValue(hash, out var at) && NowMs - at < TrustedFor.TotalMilliseconds ? 0 : wait;
    }

    public void Failed(string client, string token)
    {
        if (_failures.Count > MaxKeys) _failures.Clear();
        Count("a:" + client);
        Count(PrefixKey(token));
    }

    public void Succeeded(string hash)
    {
        if (_lastValid.Count > MaxKeys) _lastValid.Clear();
        _lastValid[hash] = NowMs;
    }

    /// <summary>A revoked or replaced token loses its exemption.</summary>
    public void Forget(string hash) => _lastValid.TryRemove(hash, out _);

    private static string PrefixKey(string token) => "p:" + token[..Math.Min(token.Length, PrefixLength)];

    private void Count(string key)
    {
        var now = NowMs;
        _failures.AddOrUpdate(key, _ => (1, now), (_, f) => now - f.SinceMs > _windowMs ? (1, now) : (f.Count + 1, f.SinceMs));
    }

    private long Locked(string key)
    {
        if (!_failures.TryGetValue(key, out var f) || f.Count < maxFailures) return 0;
        var left = f.SinceMs + _windowMs - NowMs;
        return left <= 0 ? 0 : (left + 999) / 1000;
    }
}
