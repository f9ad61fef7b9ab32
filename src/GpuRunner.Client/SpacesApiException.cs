using System.Net;
using System.Text.Json;

namespace GpuRunner.Client;

/// <summary>A refused or failed call to the core's Space routes. <see cref="Status"/> is null when the core could not
/// be reached; the message is one line and carries the core's own `error` text.</summary>
public sealed class SpacesApiException(string message, HttpStatusCode? status, Exception? inner = null) : Exception(message, inner)
{
    public HttpStatusCode? Status { get; } = status;

    internal static async Task<SpacesApiException> FromResponseAsync(HttpResponseMessage r, string what, CancellationToken ct)
    {
        var text = "";
        try { text = await r.Content.ReadAsStringAsync(ct); } catch (Exception) { /* the status is enough */ }
        string? error = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String)
                error = e.GetString();
        }
        catch (JsonException) { }
        error ??= string.IsNullOrWhiteSpace(text) ? r.ReasonPhrase : text.Length > 200 ? text[..200] : text;
        return new SpacesApiException($"{what}: {(int)r.StatusCode} {r.ReasonPhrase}: {error}", r.StatusCode);
    }
}
