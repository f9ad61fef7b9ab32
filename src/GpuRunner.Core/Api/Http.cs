using System.Text.Json;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace GpuRunner.Core.Api;

/// <summary>Request helpers shared by the endpoint groups: bearer auth, bounded JSON bodies, periods.</summary>
public static class Http
{
    public static async Task<Principal> RequireAsync(HttpContext ctx, CoreService core)
    {
        var p = await OptionalAsync(ctx, core);
        return p ?? throw new ApiException(401, "missing token: send 'Authorization: Bearer <token>'");
    }

    public static async Task<Principal?> OptionalAsync(HttpContext ctx, CoreService core)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header)) return null;
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw new ApiException(401, "the Authorization header must be 'Bearer <token>'");
        var token = header[7..].Trim();
        var (p, wait) = await core.AuthenticateFromAsync(token, Client(ctx), ctx.RequestAborted);
        if (wait > 0)
            throw new ApiException(429, $"too many failed authentications from this address or with this token prefix; retry in {wait} s") { RetryAfterSeconds = wait };
        return p ?? throw new ApiException(401, "invalid or revoked token");
    }

    /// <summary>The client's address as the throttle counts it (the TCP peer: the core does not trust forwarded headers).</summary>
    public static string Client(HttpContext ctx) => ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>Reads the JSON body (bounded), or a 400 that says which field is wrong.</summary>
    public static async Task<T> BodyAsync<T>(HttpContext ctx, long maxBytes) where T : class
    {
        if (ctx.Request.ContentLength > maxBytes)
            throw new ApiException(413, $"request body of {ctx.Request.ContentLength} bytes is larger than the limit of {maxBytes} bytes");
        var feature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = maxBytes;
        try
        {
            var body = await JsonSerializer.DeserializeAsync(ctx.Request.Body, CoreJson.Info<T>(), ctx.RequestAborted);
            return body ?? throw new ApiException(400, "a JSON object body is required");
        }
        catch (JsonException e)
        {
            throw new ApiException(400, JsonError(e));
        }
    }

    /// <summary>
    /// What a JSON error says to the caller: the field (its JSON path) and what is wrong, never a .NET type name
    /// (System.Text.Json's messages name the target type, e.g. "could not be converted to System.Int32").
    /// </summary>
    public static string JsonError(JsonException e)
    {
        var path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path.StartsWith("$.", StringComparison.Ordinal) ? e.Path[2..] : e.Path;
        var m = e.Message;
        if (m.Contains("could not be converted", StringComparison.Ordinal))
            return path is null ? "the body must be a JSON object" : $"'{path}' has the wrong type (see the route's documented body)";
        var cut = m.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) m = m[..cut];
        cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) m = m[..cut];
        m = m.TrimEnd('.', ' ');
        if (m.Contains("System.", StringComparison.Ordinal) || m.Contains("GpuRunner.", StringComparison.Ordinal)) m = "not valid JSON for this route";
        return $"malformed JSON body{(path is null ? "" : $" at '{path}'")}: {m}";
    }

    public static string SpaceId(string ns, string name)
    {
        var id = $"{ns}/{name}";
        SpaceMachine.ValidateId(id);
        return id;
    }

    /// <summary>?period=YYYY-MM, or ?from=&amp;to= (RFC 3339); default: the current calendar month (UTC).</summary>
    public static (long From, long To) Period(HttpRequest req, long nowMs)
    {
        var q = req.Query;
        string? period = q["period"], from = q["from"], to = q["to"];
        if (!string.IsNullOrEmpty(period))
        {
            if (!DateTime.TryParseExact(period, "yyyy-MM", System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var month))
                throw new ApiException(400, $"period must be YYYY-MM, got '{Clip(period)}'");
            if (month.Year is < 1970 or > 9998) throw new ApiException(400, $"period must be a month of the years 1970 to 9998, got '{Clip(period)}'");
            var start = new DateTimeOffset(month.Year, month.Month, 1, 0, 0, 0, TimeSpan.Zero);
            return (start.ToUnixTimeMilliseconds(), start.AddMonths(1).ToUnixTimeMilliseconds());
        }
        if (!string.IsNullOrEmpty(from) || !string.IsNullOrEmpty(to))
        {
            var f = ParseTime(from, "from");
            var t = ParseTime(to, "to");
            if (t <= f) throw new ApiException(400, "'to' must be after 'from'");
            return (f, t);
        }
        var now = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
        var m = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (m.ToUnixTimeMilliseconds(), m.AddMonths(1).ToUnixTimeMilliseconds());
    }

    public static long ParseTime(string? s, string what)
    {
        if (string.IsNullOrEmpty(s)) throw new ApiException(400, $"'{what}' is required (RFC 3339, e.g. 2026-11-01T00:00:00Z)");
        if (!DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t))
            throw new ApiException(400, $"'{what}' is not an RFC 3339 time: '{Clip(s)}'");
        if (t.Year is < 1970 or > 9998) throw new ApiException(400, $"'{what}' must be in the years 1970 to 9998, got '{Clip(s)}'");
        return t.ToUnixTimeMilliseconds();
    }

    /// <summary>A caller's value quoted in an error: at most 100 characters.</summary>
    public static string Clip(string? s) => s is null ? "" : s.Length <= 100 ? s : s[..100] + "…";
}
