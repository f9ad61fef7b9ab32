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
internal sealed class PageSessions(TimeProvider clock)
{
    public const string Cookie = "gpurunner_session";
    public const string LoginCsrfCookie = "gpurunner_login_csrf";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);
    private const int MaxSessions = 50_000;

    private readonly ConcurrentDictionary<string, PageSession> _byIdHash = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int Count, long SinceMs)> _failures = new(StringComparer.Ordinal);

    /// <summary>Failed logins allowed per client address and window, so user-chosen tokens cannot be guessed quickly.</summary>
    public const int MaxFailures = 10;
    public static readonly TimeSpan FailureWindow = TimeSpan.FromMinutes(5);

    /// <summary>Seconds until <paramref name="client"/> may try again, or 0.</summary>
    public long LockedForSeconds(string client)
    {
        if (!_failures.TryGetValue(client, out var f) || f.Count < MaxFailures) return 0;
        var left = f.SinceMs + (long)FailureWindow.TotalMilliseconds - NowMs;
        return left <= 0 ? 0 : (left + 999) / 1000;
    }

    public void Failed(string client)
    {
        if (_failures.Count > MaxSessions) _failures.Clear(); // bounded memory under a spray of addresses
        var now = NowMs;
        _failures.AddOrUpdate(client, _ => (1, now),
            (_, f) => now - f.SinceMs > FailureWindow.TotalMilliseconds ? (1, now) : (f.Count + 1, f.SinceMs));
    }

    public void Succeeded(string client) => _failures.TryRemove(client, out _);

    private long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    public string Create(string user, string tokenHash)
    {
        if (_byIdHash.Count >= MaxSessions) Purge();
        var sid = Tokens.New("");
        _byIdHash[Tokens.Hash(sid)] = new PageSession(user, tokenHash, Tokens.New(""), NowMs + (long)Lifetime.TotalMilliseconds);
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
