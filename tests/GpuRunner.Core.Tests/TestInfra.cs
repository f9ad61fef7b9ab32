using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GpuRunner.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace GpuRunner.Core.Tests;

/// <summary>A clock the test moves by hand. Timers stay real (the time-rules service ticks for real, reads this now).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;
    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    public static DateTimeOffset Start => new(2026, 11, 10, 12, 0, 0, TimeSpan.Zero);
}

/// <summary>A fresh database of either kind: a temp SQLite file, or a throw-away PostgreSQL schema.</summary>
public sealed class TestDb : IAsyncDisposable
{
    public const string PgEnv = "GPURUNNER_TEST_POSTGRES";
    public string Kind { get; }
    public string Spec { get; }
    private readonly string? _dir, _schema, _pg;

    private TestDb(string kind, Action<NpgsqlConnectionStringBuilder>? pg)
    {
        Kind = kind;
        if (kind == "sqlite")
        {
            _dir = Directory.CreateTempSubdirectory("gpurunner-core-test-").FullName;
            Spec = "sqlite:" + Path.Combine(_dir, "core.db");
        }
        else
        {
            _pg = Environment.GetEnvironmentVariable(PgEnv)!;
            _schema = "t_" + Guid.NewGuid().ToString("n")[..16];
            // Every statement is prepared on its first use: a store's connections are new in each test, and with
            // Npgsql's default (prepare after 5 uses) most SQL of a short test never ran prepared, which hid a
            // parameter typed by inference at prepare time (22P03 on the first 64-bit value after a null).
            var b = new NpgsqlConnectionStringBuilder(_pg) { SearchPath = _schema, AutoPrepareMinUsages = 1 };
            pg?.Invoke(b);
            Spec = "postgres:" + b.ConnectionString;
        }
    }

    /// <summary>Skips (with the reason) when PostgreSQL is asked for but GPURUNNER_TEST_POSTGRES is not set.</summary>
    public static TestDb Create(string kind, Action<NpgsqlConnectionStringBuilder>? pg = null)
    {
        Skip.If(kind == "postgres" && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PgEnv)),
            $"PostgreSQL tests need {PgEnv} (a connection string); .ci/run sets it");
        return new TestDb(kind, pg);
    }

    public ICoreStore Open(TimeProvider clock) => CoreHost.OpenStore(Spec, clock);

    /// <summary>Raw SQL on a separate connection (what an operator's psql/sqlite3 session would do).</summary>
    public async Task ExecAsync(string sql)
    {
        System.Data.Common.DbConnection c = Kind == "sqlite"
            ? new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Spec["sqlite:".Length..])
            : new NpgsqlConnection(Spec["postgres:".Length..]);
        await using var _ = c;
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_dir is not null) try { Directory.Delete(_dir, true); } catch (IOException) { }
        if (_schema is not null)
        {
            await using var c = new NpgsqlConnection(_pg);
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE", c);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}

/// <summary>A real core on Kestrel, 127.0.0.1 port 0, with users alice, bob and admin seeded.</summary>
public sealed class TestCore : IAsyncDisposable
{
    public const string Alice = "alice-token-0123456789", Bob = "bob-token-0123456789", Admin = "admin-token-0123456789";
    public ManualClock Clock { get; }
    public TestDb Db { get; }
    private readonly bool _ownsDb;
    public ICoreStore Store { get; private set; } = null!;
    public CoreOptions Options { get; private set; } = null!;
    public WebApplication App { get; private set; } = null!;
    public Uri BaseUrl { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };
    public Services.CoreService Service => (Services.CoreService)App.Services.GetService(typeof(Services.CoreService))!;

    private TestCore(TestDb db, ManualClock? clock, bool ownsDb) => (Db, Clock, _ownsDb) = (db, clock ?? new(ManualClock.Start), ownsDb);

    public static Task<TestCore> StartAsync(string kind, Action<CoreOptions>? configure = null) =>
        StartAsync(new TestCore(TestDb.Create(kind), null, ownsDb: true), configure);

    /// <summary>Another core instance on a database the caller owns (several instances behind one load balancer),
    /// sharing the caller's clock.</summary>
    public static Task<TestCore> StartOnAsync(TestDb db, ManualClock clock, Action<CoreOptions>? configure = null) =>
        StartAsync(new TestCore(db, clock, ownsDb: false), configure);

    private static async Task<TestCore> StartAsync(TestCore core, Action<CoreOptions>? configure)
    {
        // Suites send many wrong tokens on purpose; the throttle has its own tests (HardeningTests).
        var o = new CoreOptions { Clock = core.Clock, RunTimeRules = false, MaxAuthFailures = 100_000 };
        o.Urls.Add("http://127.0.0.1:0");
        o.Users.Add(("alice", Alice, false));
        o.Users.Add(("bob", Bob, false));
        o.Users.Add(("admin", Admin, true));
        configure?.Invoke(o);
        core.Options = o;
        core.Store = core.Db.Open(core.Clock);
        core.App = await CoreHost.CreateAsync(core.Store, o, l => l.SetMinimumLevelWarning());
        await core.App.StartAsync();
        core.BaseUrl = new Uri(CoreHost.Addresses(core.App)[0].TrimEnd('/') + "/");
        return core;
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null, string? raw = null)
    {
        using var req = new HttpRequestMessage(method, new Uri(BaseUrl, path.TrimStart('/')));
        if (token is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (raw is not null) req.Content = new StringContent(raw, Encoding.UTF8, "application/json");
        else if (body is not null) req.Content = JsonContent.Create(body);
        return await Http.SendAsync(req);
    }

    /// <summary>Sends and asserts the status; returns the parsed body (or an empty object).</summary>
    public async Task<JsonElement> ExpectAsync(int status, HttpMethod method, string path, string? token, object? body = null, string? raw = null)
    {
        using var r = await SendAsync(method, path, token, body, raw);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(status == (int)r.StatusCode, $"{method} {path}: expected {status}, got {(int)r.StatusCode}: {text}");
        if (status >= 400)
        {
            using var err = JsonDocument.Parse(text);
            Assert.False(string.IsNullOrWhiteSpace(err.RootElement.GetProperty("error").GetString()), "every error carries an 'error' message");
        }
        if (string.IsNullOrWhiteSpace(text) || !(text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('['))) return default;
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    public Task<JsonElement> CreateSpaceAsync(string name = "app", string? hardware = "t4-medium", string token = Alice, string? org = null) =>
        ExpectAsync(200, HttpMethod.Post, "api/repos/create", token, new { name, organization = org, type = "space", sdk = "gradio", hardware });

    private int _seq;
    public string NextEventId() => "e" + Interlocked.Increment(ref _seq);
    public string At(TimeSpan offset = default) => (Clock.GetUtcNow() + offset).ToString("O");

    /// <summary>Posts a runner event with a fresh eventId unless given; returns the ack.</summary>
    public Task<JsonElement> RunnerAsync(string route, Dictionary<string, object?> body, string token = Alice, string space = "alice/app", int status = 200)
    {
        body.TryAdd("eventId", NextEventId());
        body.TryAdd("at", At());
        body.TryAdd("runId", "run-1");
        return ExpectAsync(status, HttpMethod.Post, $"api/runner/spaces/{space}/{route}", token, body);
    }

    public async Task UpAsync(string space = "alice/app", string token = Alice, string run = "run-1")
    {
        await RunnerAsync("runs", new() { ["runId"] = run, ["host"] = "test" }, token, space);
        await RunnerAsync("stage", new() { ["runId"] = run, ["stage"] = "APP_STARTING" }, token, space);
        await RunnerAsync("stage", new() { ["runId"] = run, ["stage"] = "RUNNING" }, token, space);
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return; // a test may stop an instance early (a dying leader)
        _disposed = true;
        Http.Dispose();
        if (App is not null) { await App.StopAsync(); await App.DisposeAsync(); }
        if (Store is not null) await Store.DisposeAsync();
        if (_ownsDb) await Db.DisposeAsync();
    }
}

internal static class TestLogging
{
    public static void SetMinimumLevelWarning(this Microsoft.Extensions.Logging.ILoggingBuilder l) =>
        l.AddFilter((_, level) => level >= Microsoft.Extensions.Logging.LogLevel.Warning);
}
