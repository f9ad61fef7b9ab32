using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuRunner.Client;

/// <summary>
/// Typed client of the core's Hub-compatible Space routes, usage routes and token issuing. Every call has its own
/// timeout. Answers are returned as JSON (the shapes are documented in api-shapes.md / README), so callers can
/// print them whole or pick fields.
/// </summary>
public sealed class SpacesClient : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly AuthenticationHeaderValue? _auth;

    public Uri CoreUrl { get; }
    public TimeSpan Timeout { get; }

    public SpacesClient(Uri coreUrl, string? token, HttpClient? http = null, TimeSpan? timeout = null)
    {
        if (!coreUrl.IsAbsoluteUri || (coreUrl.Scheme != Uri.UriSchemeHttp && coreUrl.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"core URL must be an absolute http(s) URL, got '{coreUrl}'", nameof(coreUrl));
        CoreUrl = coreUrl.AbsoluteUri.EndsWith('/') ? coreUrl : new Uri(coreUrl.AbsoluteUri + "/");
        Timeout = timeout ?? DefaultTimeout;
        _ownsHttp = http is null;
        _http = http ?? new HttpClient(new SocketsHttpHandler { ConnectTimeout = Timeout }) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _auth = string.IsNullOrEmpty(token) ? null : new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>"ns/name" split, or ArgumentException with a one-line reason.</summary>
    public static (string Ns, string Name) Split(string space)
    {
        var p = (space ?? "").Split('/');
        if (p.Length != 2 || p.Any(x => x.Length == 0 || x.Any(char.IsWhiteSpace)))
            throw new ArgumentException($"space must be NAMESPACE/NAME, got '{space}'");
        return (p[0], p[1]);
    }

    private static string SpacePath(string space)
    {
        var (ns, name) = Split(space);
        return $"{Uri.EscapeDataString(ns)}/{Uri.EscapeDataString(name)}";
    }

    public Task<JsonElement> CreateAsync(string space, string sdk, string? hardware, long? sleepSeconds, CancellationToken ct = default)
    {
        var (ns, name) = Split(space);
        var body = new Dictionary<string, object?> { ["name"] = name, ["organization"] = ns, ["type"] = "space", ["sdk"] = sdk };
        if (hardware is not null) body["hardware"] = hardware;
        if (sleepSeconds is not null) body["sleepTimeSeconds"] = sleepSeconds;
        return JsonAsync(HttpMethod.Post, "api/repos/create", body, ct);
    }

    public Task<JsonElement> DeleteAsync(string space, CancellationToken ct = default)
    {
        var (ns, name) = Split(space);
        return JsonAsync(HttpMethod.Delete, "api/repos/delete", new Dictionary<string, object?> { ["name"] = name, ["organization"] = ns, ["type"] = "space" }, ct);
    }

    public Task<JsonElement> RuntimeAsync(string space, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Get, $"api/spaces/{SpacePath(space)}/runtime", null, ct);

    public Task<JsonElement> RequestHardwareAsync(string space, string flavor, long? sleepSeconds, CancellationToken ct = default)
    {
        var body = new Dictionary<string, object?> { ["flavor"] = flavor };
        if (sleepSeconds is not null) body["sleepTimeSeconds"] = sleepSeconds;
        return JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/hardware", body, ct);
    }

    public Task<JsonElement> SetSleepTimeAsync(string space, long seconds, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/sleeptime", new Dictionary<string, object?> { ["seconds"] = seconds }, ct);

    public Task<JsonElement> PauseAsync(string space, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/pause", null, ct);

    public Task<JsonElement> RestartAsync(string space, bool factory, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/restart{(factory ? "?factory=true" : "")}", null, ct);

    /// <summary>The Space's smoke reports (newest first), the hardware last proven, and the before/after pair.</summary>
    public Task<JsonElement> SmokeReportsAsync(string space, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Get, $"api/spaces/{SpacePath(space)}/smoke", null, ct);

    /// <summary>The smoke level a hardware change gets (owner): quick or standard.</summary>
    public Task<JsonElement> SetSmokeLevelAsync(string space, string level, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/smoke", new Dictionary<string, object?> { ["upgradeLevel"] = level }, ct);

    public Task<JsonElement> ListHardwareAsync(CancellationToken ct = default) => JsonAsync(HttpMethod.Get, "api/spaces/hardware", null, ct);

    public Task<JsonElement> CurrentRunAsync(string space, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Get, $"api/usage/spaces/{SpacePath(space)}/current", null, ct);

    /// <summary>The invoice of a Space for a period (YYYY-MM; null = this month), as JSON or CSV text.</summary>
    public async Task<string> UsageAsync(string space, string? period, bool csv, CancellationToken ct = default)
    {
        var q = new List<string>();
        if (period is not null) q.Add("period=" + Uri.EscapeDataString(period));
        if (csv) q.Add("format=csv");
        return await SendAsync(HttpMethod.Get, $"api/usage/spaces/{SpacePath(space)}{(q.Count > 0 ? "?" + string.Join('&', q) : "")}", null, ct);
    }

    /// <summary>Issues a runner token for the Space (owner only) and returns it.</summary>
    public async Task<string> IssueRunnerTokenAsync(string space, CancellationToken ct = default) =>
        (await IssueRunnerTokenWithIdAsync(space, ct)).Token;

    /// <summary>Issues a runner token (owner only): the secret (shown this once) and its id (for list and revoke).</summary>
    public async Task<(string Token, string Id)> IssueRunnerTokenWithIdAsync(string space, CancellationToken ct = default)
    {
        var r = await JsonAsync(HttpMethod.Post, $"api/spaces/{SpacePath(space)}/tokens", null, ct);
        var token = r.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() is { Length: > 0 } s
            ? s : throw new SpacesApiException("POST tokens: the core answered without a token", null);
        return (token, r.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "");
    }

    /// <summary>The Space's runner tokens (owner only): a JSON array of {id, prefix, kind, space, createdBy, created}.</summary>
    public Task<JsonElement> ListRunnerTokensAsync(string space, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Get, $"api/spaces/{SpacePath(space)}/tokens", null, ct);

    /// <summary>Revokes one runner token of the Space by its id (owner only); refused with 401 from then on.</summary>
    public Task<JsonElement> RevokeRunnerTokenAsync(string space, string tokenId, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(tokenId) || tokenId.Any(c => !char.IsAsciiLetterOrDigit(c)))
            throw new ArgumentException($"a token id is letters and digits (see 'spaces token {space} --list'), got '{tokenId}'");
        return JsonAsync(HttpMethod.Delete, $"api/spaces/{SpacePath(space)}/tokens/{tokenId}", null, ct);
    }

    /// <summary>Makes a named token for the calling user: {id, name, prefix, kind, user, created, token} (the secret, this once).</summary>
    public Task<JsonElement> IssueUserTokenAsync(string name, CancellationToken ct = default) =>
        JsonAsync(HttpMethod.Post, "api/user/tokens", new Dictionary<string, object?> { ["name"] = name }, ct);

    /// <summary>The calling user's tokens (the seeded one and the named ones): a JSON array of {id, name, prefix, kind, user, created}.</summary>
    public Task<JsonElement> ListUserTokensAsync(CancellationToken ct = default) => JsonAsync(HttpMethod.Get, "api/user/tokens", null, ct);

    /// <summary>Revokes one of the calling user's tokens by id; refused with 401 from then on.</summary>
    public Task<JsonElement> RevokeUserTokenAsync(string tokenId, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(tokenId) || tokenId.Any(c => !char.IsAsciiLetterOrDigit(c)))
            throw new ArgumentException($"a token id is letters and digits (see 'spaces tokens --list'), got '{tokenId}'");
        return JsonAsync(HttpMethod.Delete, $"api/user/tokens/{tokenId}", null, ct);
    }

    private async Task<JsonElement> JsonAsync(HttpMethod method, string path, Dictionary<string, object?>? body, CancellationToken ct)
    {
        var text = await SendAsync(method, path, body, ct);
        try
        {
            using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(text) ? "{}" : text);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new SpacesApiException($"{method} {path}: the core answered with something that is not JSON", null, e);
        }
    }

    private async Task<string> SendAsync(HttpMethod method, string path, Dictionary<string, object?>? body, CancellationToken ct)
    {
        var what = $"{method} /{path.Split('?')[0]}";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var req = new HttpRequestMessage(method, new Uri(CoreUrl, path));
            req.Headers.Authorization = _auth;
            if (body is not null) req.Content = new StringContent(JsonSerializer.Serialize(body, SpacesJsonContext.Default.DictionaryStringObject), Encoding.UTF8, "application/json");
            using var resp = await _http.SendAsync(req, timeout.Token);
            if (!resp.IsSuccessStatusCode) throw await SpacesApiException.FromResponseAsync(resp, what, timeout.Token);
            return await resp.Content.ReadAsStringAsync(timeout.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new SpacesApiException($"{what}: no answer from {CoreUrl} within {Timeout.TotalSeconds:0.#} s", null, e);
        }
        catch (HttpRequestException e)
        {
            var inner = e; Exception x = e; while (x.InnerException is not null) x = x.InnerException;
            throw new SpacesApiException($"{what}: cannot reach {CoreUrl}: {x.Message}", null, inner);
        }
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}

/// <summary>Request bodies are small dictionaries (only the keys the caller set are sent); their values are strings
/// and longs, listed so that the `object` values resolve under NativeAOT. Default (not web) options, as before.</summary>
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(Dictionary<string, string?>))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
public sealed partial class SpacesJsonContext : JsonSerializerContext;
