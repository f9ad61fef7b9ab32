using System.Net;
using System.Text.Json;

namespace GpuRunner.Client;

/// <summary>
/// A runner route failed. <see cref="StatusCode"/> is null when no HTTP answer came back (unreachable, timeout,
/// connection reset); otherwise the core's status with its `error` message (ProblemDetails `detail`/`title` as a
/// fallback, then the reason phrase).
/// </summary>
public sealed class RunnerApiException(string message, int? statusCode = null, Exception? inner = null)
    : Exception(message, inner)
{
    public int? StatusCode { get; } = statusCode;

    /// <summary>Worth retrying later: no answer, 408, 429 or a server error.</summary>
    public bool IsTransient => StatusCode is null or 408 or 429 or >= 500;

    /// <summary>
    /// The core understood the event and will never accept it: malformed (400), too large (413), an illegal
    /// transition or a stale/future event (409), a broken rule (422). Retrying the same bytes cannot help.
    /// </summary>
    public bool IsPermanentRejection => StatusCode is 400 or 409 or 413 or 422;

    /// <summary>Credentials or address are wrong (401/403/404): fixable by configuration, so the event is kept.</summary>
    public bool IsConfiguration => StatusCode is 401 or 403 or 404;

    internal static async Task<RunnerApiException> FromResponseAsync(HttpResponseMessage response, string what,
        CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        string? detail = null;
        try
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            detail = ErrorMessageFrom(body);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException) { }
        detail ??= response.ReasonPhrase ?? ((HttpStatusCode)status).ToString();
        return new RunnerApiException($"{what}: core answered {status}: {detail}", status);
    }

    /// <summary>`error`, then ProblemDetails `detail`, then `title`; null when the body is not such JSON.</summary>
    public static string? ErrorMessageFrom(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            foreach (var key in (ReadOnlySpan<string>)["error", "detail", "title"])
                if (doc.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
                    && !string.IsNullOrWhiteSpace(v.GetString()))
                    return v.GetString();
        }
        catch (JsonException) { }
        // Not JSON (a proxy's HTML page, say): keep one short line of it rather than nothing.
        var line = body.Trim().Split('\n')[0].Trim();
        return line.Length > 200 ? line[..200] + "…" : line;
    }
}
