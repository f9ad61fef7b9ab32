using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GpuRunner.Core;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Pages.Tests;

/// <summary>A clock the tests move by hand (events, billing and sessions all read it).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;
    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    public void Set(DateTimeOffset t) => Interlocked.Exchange(ref _ticks, t.UtcTicks);
}

/// <summary>A store whose queries can be made to fail, to see /readyz and /metrics report it.</summary>
public sealed class SwitchableStore(ICoreStore inner) : ICoreStore
{
    public volatile bool Down;
    private T Up<T>(T value) => Down ? throw new IOException("store is down (test)") : value;
    public string Kind => inner.Kind;
    public string Describe => inner.Describe;
    public Task InitializeAsync(CancellationToken ct = default) => inner.InitializeAsync(ct);
    public Task<T> WriteAsync<T>(Func<IStoreTx, T> work, CancellationToken ct = default) => Up(inner).WriteAsync(work, ct);
    public Task<T> WriteAsync<T>(string? spaceId, Func<IStoreTx, T> work, CancellationToken ct = default) => Up(inner).WriteAsync(spaceId, work, ct);
    public void OnInvalidated(Action<string> handler) => inner.OnInvalidated(handler);
    public Task<bool> TryLeadAsync(CancellationToken ct = default) => Up(inner).TryLeadAsync(ct);
    public Task<SpaceState?> GetSpaceAsync(string id, CancellationToken ct = default) => Up(inner).GetSpaceAsync(id, ct);
    public Task<IReadOnlyList<SpaceState>> ListSpacesAsync(string? owner, CancellationToken ct = default) => Up(inner).ListSpacesAsync(owner, ct);
    public Task<IReadOnlyList<SpaceState>> ListLiveSpacesAsync(CancellationToken ct = default) => Up(inner).ListLiveSpacesAsync(ct);
    public Task<Principal?> FindTokenAsync(string hash, CancellationToken ct = default) => Up(inner).FindTokenAsync(hash, ct);
    public Task<IReadOnlyList<LedgerAggregate>> AggregateAsync(long f, long t, string? s, string? o, CancellationToken ct = default) => Up(inner).AggregateAsync(f, t, s, o, ct);
    public Task<IReadOnlyList<LedgerRow>> LedgerAsync(long f, long t, string? s, string? o, CancellationToken ct = default) => Up(inner).LedgerAsync(f, t, s, o, ct);
    public Task<IReadOnlyList<Grant>> GrantsAsync(long f, long t, string? s, string? o, CancellationToken ct = default) => Up(inner).GrantsAsync(f, t, s, o, ct);
    public Task<long> CountEventsAsync(string? s, CancellationToken ct = default) => Up(inner).CountEventsAsync(s, ct);
    public Task<IReadOnlyList<StoredEvent>> EventsAsync(string s, CancellationToken ct = default) => Up(inner).EventsAsync(s, ct);
    public Task<int> PruneHeartbeatsAsync(long before, CancellationToken ct = default) => Up(inner).PruneHeartbeatsAsync(before, ct);
    public Task BulkInsertAsync(IEnumerable<StoredEvent> e, IEnumerable<LedgerRow> l, CancellationToken ct = default) => inner.BulkInsertAsync(e, l, ct);
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>
/// A real core (the same <see cref="CoreHost"/> that `gpurunner core serve` runs) on loopback, on SQLite in a temp
/// directory, with a manual clock and no background time rules. Users: alice and bob (owners), root (admin).
/// </summary>
public sealed class TestCore : IAsyncDisposable
{
    public const string AliceToken = "alice-token-0123456789";
    public const string BobToken = "bob-token-0123456789";
    public const string RootToken = "root-token-0123456789";

    public ManualClock Clock { get; }
    public SwitchableStore Store { get; }
    public WebApplication App { get; }
    public string Url { get; }
    private readonly string _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private TestCore(ManualClock clock, SwitchableStore store, WebApplication app, string url, string dir)
        => (Clock, Store, App, Url, _dir) = (clock, store, app, url, dir);

    public static async Task<TestCore> StartAsync(DateTimeOffset? start = null)
    {
        var clock = new ManualClock(start ?? new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
        var dir = Directory.CreateTempSubdirectory("gpurunner-pages-").FullName;
        var store = new SwitchableStore(new SqliteCoreStore(Path.Combine(dir, "core.db"), clock));
        var o = new CoreOptions { Clock = clock, RunTimeRules = false };
        o.Urls.Add("http://127.0.0.1:0");
        o.Users.Add(("alice", AliceToken, false));
        o.Users.Add(("bob", BobToken, false));
        o.Users.Add(("root", RootToken, true));
        var app = await CoreHost.CreateAsync(store, o, l => l.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        return new TestCore(clock, store, app, CoreHost.Addresses(app)[0].TrimEnd('/'), dir);
    }

    public async Task<JsonElement> SendAsync(HttpMethod method, string path, string token, object? body = null, int expect = 200)
    {
        using var req = new HttpRequestMessage(method, Url + path);
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) req.Content = JsonContent.Create(body);
        using var res = await _http.SendAsync(req);
        var text = await res.Content.ReadAsStringAsync();
        Assert.True((int)res.StatusCode == expect, $"{method} {path}: expected {expect}, got {(int)res.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public Task<JsonElement> PostAsync(string path, string token, object? body = null, int expect = 200) => SendAsync(HttpMethod.Post, path, token, body, expect);

    public Task<JsonElement> RuntimeAsync(string id, string token = AliceToken) => SendAsync(HttpMethod.Get, $"/api/spaces/{id}/runtime", token);

    public async Task<string> GetTextAsync(string path)
    {
        using var res = await _http.GetAsync(Url + path);
        return await res.Content.ReadAsStringAsync();
    }

    public async Task<(int Status, string Body)> GetAsync(string path)
    {
        using var res = await _http.GetAsync(Url + path);
        return ((int)res.StatusCode, await res.Content.ReadAsStringAsync());
    }

    public Task CreateSpaceAsync(string id, string hardware, string token = AliceToken) =>
        PostAsync("/api/repos/create", token, new { name = id.Split('/')[1], organization = id.Split('/')[0], type = "space", sdk = "docker", hardware });

    private int _event;
    public string At => Clock.GetUtcNow().ToString("O");

    /// <summary>Sends one runner event (as the owner, which the runner routes accept) dated now.</summary>
    public Task<JsonElement> RunnerAsync(string id, string route, string runId, object extra, int expect = 200)
    {
        var body = new Dictionary<string, object?> { ["eventId"] = $"e{Interlocked.Increment(ref _event)}", ["at"] = At, ["runId"] = runId };
        foreach (var p in extra.GetType().GetProperties()) body[p.Name] = p.GetValue(extra);
        return PostAsync($"/api/runner/spaces/{id}/{route}", AliceToken, body, expect);
    }

    /// <summary>A runner starts, reports its device (tier <paramref name="detected"/>) and reaches RUNNING.</summary>
    public async Task RunAsync(string id, string runId, string? detected, string gpu = "Tesla T4", int mib = 15360)
    {
        await RunnerAsync(id, "runs", runId, new { host = "test" });
        await RunnerAsync(id, "device", runId, new { report = DeviceReport(detected, gpu, mib) });
        await RunnerAsync(id, "stage", runId, new { stage = "APP_STARTING" });
        await RunnerAsync(id, "stage", runId, new { stage = "RUNNING" });
    }

    public static object DeviceReport(string? flavor, string gpu, int mib) => new Dictionary<string, object?>
    {
        ["schema"] = "gpurunner.report/1",
        ["driver"] = new { loaded = true, driverVersion = "550.54.15", cudaDriverVersion = "12.4" },
        ["gpus"] = flavor is "cpu-basic" or "cpu-upgrade" ? Array.Empty<object>() : new[] { new { index = 0, name = gpu, memoryTotalMiB = mib, computeCapability = "7.5" } },
        ["tier"] = new { flavor, exact = flavor is not null, summary = flavor is null ? "no tier in the catalogue matches: 1x " + gpu : "matches " + flavor },
        ["checks"] = new[] { new { id = "driver.library", title = "NVIDIA driver library loads", status = "PASS", evidence = "libnvidia-ml.so.1" } },
        ["verdict"] = "PASS",
    };

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Store.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
