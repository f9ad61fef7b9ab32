using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Http;

namespace GpuRunner.Core.Pages;

/// <summary>A logged-in browser: who, which token (by hash) it logged in with, and its CSRF token.</summary>
internal sealed record PageSession(string User, string TokenHash, string Csrf, long ExpiresMs);

/// <summary>
/// Browser sessions. The cookie holds only a random 256-bit session id; the server keeps, per SHA-256 of that id,
/// the user and the SHA-256 of the token used to log in — never the token, never the id in clear. Every request
/// re-checks the token hash against the store, so revoking the token ends its sessions at once.
/// Sessions live in this process: a restart logs browsers out (they log in again), and several core instances
/// behind one address need sticky sessions. That keeps secrets out of the database and needs no key management.
/// </summary>
internal sealed class PageSessions(TimeProvider clock, int maxPerUser = 10, int maxTotal = 10_000)
{
    public const string Cookie = "gpurunner_session";
    public const string LoginCsrfCookie = "gpurunner_login_csrf";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    private readonly ConcurrentDictionary<string, PageSession> _byIdHash = new(StringComparer.Ordinal);
    private readonly Lock _create = new();

    private long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    public int Count => _byIdHash.Count;

    /// <summary>
    /// A new session. Bounded: a user keeps at most <c>maxPerUser</c> sessions and the process at most
    /// <c>maxTotal</c>; past either, the oldest (of that user, or of all) is logged out. Expired ones go first.
    /// </summary>
    public string Create(string user, string tokenHash)
    {
        var sid = Tokens.New("");
        var now = NowMs;
        lock (_create)
        {
            var mine = _byIdHash.Where(kv => kv.Value.User == user).OrderBy(kv => kv.Value.ExpiresMs).ToList();
            for (var i = 0; i <= mine.Count - maxPerUser; i++) _byIdHash.TryRemove(mine[i].Key, out _);
            if (_byIdHash.Count >= maxTotal)
            {
                Purge();
                // Oldest first (all sessions live equally long, so the earliest to expire is the oldest).
                foreach (var kv in _byIdHash.OrderBy(kv => kv.Value.ExpiresMs).Take(_byIdHash.Count - maxTotal + 1).ToList())
                    _byIdHash.TryRemove(kv.Key, out _);
            }
            _byIdHash[Tokens.Hash(sid)] = new PageSession(user, tokenHash, Tokens.New(""), now + (long)Lifetime.TotalMilliseconds);
        }
        return sid;
    }

    public PageSession? Find(string? sid)
    {
        if (string.IsNullOrEmpty(sid) || sid.Length > 100) return null;
        var key = Tokens.Hash(sid);
        if (!_byIdHash.TryGetValue(key, out var s)) return null;
        if (s.ExpiresMs > NowMs) return s;
        _byIdHash.TryRemove(key, out _);
        return null;
    }

    public void Remove(string? sid)
    {
        if (!string.IsNullOrEmpty(sid)) _byIdHash.TryRemove(Tokens.Hash(sid), out _);
    }

    private void Purge()
    {
        var now = NowMs;
        foreach (var (k, v) in _byIdHash)
            if (v.ExpiresMs <= now) _byIdHash.TryRemove(k, out _);
    }

    public static CookieOptions CookieOptions(HttpContext ctx, TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = ctx.Request.IsHttps,
        Path = "/",
        MaxAge = maxAge,
        IsEssential = true,
    };
}

/// <summary>The caller of a page: the user (as the API would see them) and their session.</summary>
internal sealed record PageUser(Principal Principal, PageSession Session, string SessionId)
{
    public string Name => Principal.Name;
}

/// <summary>CSRF defence for the forms: SameSite=Strict cookies, a same-origin check, and a per-session token.</summary>
internal static class PageForms
{
    public const string Field = "_csrf";

    public static string Csrf(string? token) =>
        token is null ? "" : $"<input type=\"hidden\" name=\"{Field}\" value=\"{Html.Attr(token)}\">";

    public static bool Same(string? a, string? b) =>
        a is not null && b is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    /// <summary>A browser sends Origin on every POST; when present it must be this site.</summary>
    public static bool SameOrigin(HttpRequest req)
    {
        var origin = req.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin)) return true;
        return Uri.TryCreate(origin, UriKind.Absolute, out var o) &&
               string.Equals(o.Authority, req.Host.Value, StringComparison.OrdinalIgnoreCase) &&
               string.Equals(o.Scheme, req.Scheme, StringComparison.OrdinalIgnoreCase);
    }
}
