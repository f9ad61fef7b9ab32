using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace GpuRunner.Client;

/// <summary>
/// Typed client of the core's runner routes (/api/runner/spaces/{ns}/{name}/...). Every call has its own timeout;
/// failures surface as <see cref="RunnerApiException"/> with the status (or none when the core was unreachable).
/// Thread-safe; one instance per core+space+token.
/// </summary>
public sealed partial class RunnerClient : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly string _basePath;

    public Uri CoreUrl { get; }
    public string Space { get; }
    public TimeSpan Timeout { get; }

    /// <param name="coreUrl">The core's base URL, e.g. http://127.0.0.1:8080.</param>
    /// <param name="space">"namespace/name".</param>
    /// <param name="token">A runner token (or the owner's user token).</param>
    /// <param name="http">An HttpClient to reuse (tests, handlers); created when null.</param>
    public RunnerClient(Uri coreUrl, string space, string token, HttpClient? http = null, TimeSpan? timeout = null)
    {
        if (!coreUrl.IsAbsoluteUri || (coreUrl.Scheme != Uri.UriSchemeHttp && coreUrl.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"core URL must be an absolute http(s) URL, got '{coreUrl}'", nameof(coreUrl));
        var (ns, name) = ParseSpace(space);
        if (string.IsNullOrWhiteSpace(token))
            throw new ArgumentException("a runner token is required", nameof(token));

        CoreUrl = coreUrl;
        Space = $"{ns}/{name}";
        Timeout = timeout ?? DefaultTimeout;
        _basePath = $"api/runner/spaces/{Uri.EscapeDataString(ns)}/{Uri.EscapeDataString(name)}/";
        _ownsHttp = http is null;
        // Our own per-call timeout (a linked CancellationTokenSource) is the one that counts; the HttpClient's is off
        // so that a shared client with a shorter default cannot cut our calls.
        _http = http ?? new HttpClient(new SocketsHttpHandler { ConnectTimeout = Timeout, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        _authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    private readonly AuthenticationHeaderValue _authorization;

    /// <summary>Splits "ns/name"; throws ArgumentException with a one-line reason otherwise.</summary>
    public static (string Namespace, string Name) ParseSpace(string space)
    {
        var parts = (space ?? "").Split('/');
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
            throw new ArgumentException($"space must be NAMESPACE/NAME, got '{space}'", nameof(space));
        return (parts[0], parts[1]);
    }

    public static string PathOf(RunnerRoute route) => route switch
    {
        RunnerRoute.Runs => "runs",
        RunnerRoute.Device => "device",
        RunnerRoute.Stage => "stage",
        RunnerRoute.Heartbeat => "heartbeat",
        RunnerRoute.Exit => "exit",
        RunnerRoute.Smoke => "smoke",
        RunnerRoute.GpuEvent => "gpu-event",
        _ => throw new ArgumentOutOfRangeException(nameof(route)),
    };

    public Task<RunnerAck> StartRunAsync(RunStartedEvent e, CancellationToken ct = default) =>
        SendAsync(RunnerRoute.Runs, Serialize(e), ct);

    public Task<RunnerAck> SendDeviceAsync(DeviceEvent e, CancellationToken ct = default) =>
        SendAsync(RunnerRoute.Device, Serialize(e), ct);

    public Task<RunnerAck> SendStageAsync(StageEvent e, CancellationToken ct = default) =>
        SendAsync(RunnerRoute.Stage, Serialize(e), ct);

    public Task<RunnerAck> SendHeartbeatAsync(HeartbeatEvent e, CancellationToken ct = default) =>
        SendAsync(RunnerRoute.Heartbeat, Serialize(e), ct);

    public Task<RunnerAck> SendExitAsync(ExitEvent e, CancellationToken ct = default) =>
        SendAsync(RunnerRoute.Exit, Serialize(e), ct);

    /// <summary>Serializes any runner body with the source-generated context (trim-safe).</summary>
    public static string Serialize<T>(T body) =>
        JsonSerializer.Serialize(body, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)
            RunnerJsonContext.Default.GetTypeInfo(typeof(T))!);

    /// <summary>
    /// Posts an already-serialized body (the outbox stores the exact bytes so a retry is byte-identical).
    /// Returns the acknowledgement on 2xx; throws <see cref="RunnerApiException"/> otherwise.
    /// </summary>
    public async Task<RunnerAck> SendAsync(RunnerRoute route, string json, CancellationToken ct = default)
    {
        var what = $"POST {PathOf(route)}";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(CoreUrl, _basePath + PathOf(route)))
            {
                Content = new StringContent(json, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = _authorization;
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw await RunnerApiException.FromResponseAsync(response, what, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            return ParseAck(body);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new RunnerApiException($"{what}: no answer from {CoreUrl} within {Timeout.TotalSeconds:0.#} s", null, e);
        }
        catch (HttpRequestException e)
        {
            throw new RunnerApiException($"{what}: cannot reach {CoreUrl}: {Innermost(e).Message}", null, e);
        }
    }

    /// <summary>
    /// Posts several already-serialized bodies in one request (POST batch; at most 1000). The core applies them in this
    /// order, each exactly as if it had been sent alone, and answers each with the status its own route would have
    /// given. Throws <see cref="RunnerApiException"/> only when the request as a whole failed (nothing is known then).
    /// </summary>
    public async Task<IReadOnlyList<RunnerBatchResult>> SendBatchAsync(IReadOnlyList<(RunnerRoute Route, string Json)> events,
        CancellationToken ct = default)
    {
        var sb = new StringBuilder("{\"events\":[");
        for (var i = 0; i < events.Count; i++)
            sb.Append(i == 0 ? "" : ",").Append("{\"route\":\"").Append(PathOf(events[i].Route)).Append("\",\"body\":").Append(events[i].Json).Append('}');
        sb.Append("]}");
        var what = $"POST batch of {events.Count}";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        string body;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(CoreUrl, _basePath + "batch"))
            {
                Content = new StringContent(sb.ToString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = _authorization;
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw await RunnerApiException.FromResponseAsync(response, what, timeout.Token);
            body = await response.Content.ReadAsStringAsync(timeout.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new RunnerApiException($"{what}: no answer from {CoreUrl} within {Timeout.TotalSeconds:0.#} s", null, e);
        }
        catch (HttpRequestException e)
        {
            throw new RunnerApiException($"{what}: cannot reach {CoreUrl}: {Innermost(e).Message}", null, e);
        }
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (!doc.RootElement.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array || results.GetArrayLength() != events.Count)
                throw new JsonException("no 'results' list of the right length");
            var list = new List<RunnerBatchResult>(events.Count);
            var i = 0;
            foreach (var r in results.EnumerateArray())
            {
                var status = r.TryGetProperty("status", out var st) && st.ValueKind == JsonValueKind.Number ? st.GetInt32() : 500;
                var error = r.TryGetProperty("error", out var er) && er.ValueKind == JsonValueKind.String ? er.GetString() : null;
                list.Add(status is >= 200 and < 300
                    ? new RunnerBatchResult(status, ReadAck(r), null)
                    : new RunnerBatchResult(status, null, $"POST {PathOf(events[i].Route)}: core answered {status}: {error ?? "(no message)"}"));
                i++;
            }
            return list;
        }
        catch (JsonException e)
        {
            // 2xx without a readable answer: nothing can be acknowledged; the events are resent (the core dedups).
            throw new RunnerApiException($"{what}: unreadable answer from the core ({e.Message})", 502, e);
        }
    }

    /// <summary>
    /// GET desired: the core's decision for run <paramref name="runId"/> (null: no app running). With
    /// <paramref name="known"/>, the core answers when its decision differs from it, or after <paramref name="wait"/>
    /// (a long poll; this call's timeout is the wait plus <see cref="Timeout"/>). A deleted Space is a decision
    /// ("deleted"), not an error.
    /// </summary>
    public async Task<RunnerDesired> DesiredAsync(string? runId, string? known, TimeSpan wait, CancellationToken ct = default)
    {
        var query = $"desired?wait={(int)wait.TotalSeconds}" + (runId is null ? "" : "&runId=" + Uri.EscapeDataString(runId))
                    + (known is null ? "" : "&known=" + Uri.EscapeDataString(known));
        var body = await GetAsync(query, "GET desired", Timeout + wait, ct);
        return Read(body, "GET desired", RunnerJsonContext.Default.RunnerDesired) is { Desired.Length: > 0 } d
            ? d : throw new RunnerApiException("GET desired: the core's answer has no 'desired'", 502);
    }

    /// <summary>GET held: what the core holds for this Space and its dead letters.</summary>
    public async Task<HeldEvents> HeldAsync(CancellationToken ct = default)
    {
        var body = await GetAsync("held", "GET held", Timeout, ct);
        return Read(body, "GET held", RunnerJsonContext.Default.HeldEvents) ?? throw new RunnerApiException("GET held: empty answer from the core", 502);
    }

    private static T? Read<T>(string body, string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        try { return JsonSerializer.Deserialize(body, info); }
        catch (JsonException e) { throw new RunnerApiException($"{what}: unreadable answer from the core ({e.Message})", 502, e); }
    }

    private async Task<string> GetAsync(string relative, string what, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(CoreUrl, _basePath + relative));
            request.Headers.Authorization = _authorization;
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (!response.IsSuccessStatusCode)
                throw await RunnerApiException.FromResponseAsync(response, what, cts.Token);
            return await response.Content.ReadAsStringAsync(cts.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new RunnerApiException($"{what}: no answer from {CoreUrl} within {timeout.TotalSeconds:0.#} s", null, e);
        }
        catch (HttpRequestException e)
        {
            throw new RunnerApiException($"{what}: cannot reach {CoreUrl}: {Innermost(e).Message}", null, e);
        }
    }

    private static RunnerAck ParseAck(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return new RunnerAck();
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? ReadAck(doc.RootElement) : new RunnerAck();
        }
        catch (JsonException)
        {
            // A 2xx is an acknowledgement whatever its body says; the event was applied.
            return new RunnerAck();
        }
    }

    private static RunnerAck ReadAck(JsonElement root)
    {
        var duplicate = root.TryGetProperty("duplicate", out var d) && d.ValueKind == JsonValueKind.True;
        var runId = root.TryGetProperty("runId", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var held = root.TryGetProperty("held", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString() : null;
        return new RunnerAck(duplicate, runId, held);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
