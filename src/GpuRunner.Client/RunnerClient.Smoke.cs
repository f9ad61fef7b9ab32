using System.Net.Http.Headers;
using System.Text.Json;

namespace GpuRunner.Client;

/// <summary>The hardware a Space was last proven on (GET smoke/baseline), which a starting runner compares with its own.</summary>
public sealed record SmokeBaseline(string RequestedFlavor, string UpgradeLevel, string? VerifiedFlavor, IReadOnlyList<string> VerifiedGpuUuids,
    string? VerifiedRunId, string? VerifiedAt);

public sealed partial class RunnerClient
{
    /// <summary>Asks the core which flavor the Space requests and which hardware a smoke report last proved.</summary>
    public async Task<SmokeBaseline> GetSmokeBaselineAsync(CancellationToken ct = default)
    {
        const string what = "GET smoke/baseline";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(CoreUrl, _basePath + "smoke/baseline"));
            request.Headers.Authorization = _authorization;
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw await RunnerApiException.FromResponseAsync(response, what, timeout.Token);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(timeout.Token));
            var r = doc.RootElement;
            var requested = Str(r, "requestedFlavor") ?? throw new JsonException("no 'requestedFlavor'");
            var v = r.TryGetProperty("verified", out var x) && x.ValueKind == JsonValueKind.Object ? x : default;
            var uuids = v.ValueKind == JsonValueKind.Object && v.TryGetProperty("gpuUuids", out var u) && u.ValueKind == JsonValueKind.Array
                ? u.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList()
                : [];
            return new SmokeBaseline(requested, Str(r, "upgradeLevel") ?? "quick",
                v.ValueKind == JsonValueKind.Object ? Str(v, "flavor") : null, uuids,
                v.ValueKind == JsonValueKind.Object ? Str(v, "runId") : null, v.ValueKind == JsonValueKind.Object ? Str(v, "at") : null);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new RunnerApiException($"{what}: no answer from {CoreUrl} within {Timeout.TotalSeconds:0.#} s", null, e);
        }
        catch (HttpRequestException e)
        {
            throw new RunnerApiException($"{what}: cannot reach {CoreUrl}: {Innermost(e).Message}", null, e);
        }
        catch (JsonException e)
        {
            throw new RunnerApiException($"{what}: unreadable answer from the core ({e.Message})", 502, e);
        }
    }

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
