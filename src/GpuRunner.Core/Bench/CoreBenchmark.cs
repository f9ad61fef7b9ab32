using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Core.Bench;

/// <summary>Settings of `gpurunner core bench` (bench/core/README.md).</summary>
public sealed record CoreBenchOptions
{
    public string[] Dbs { get; init; } = ["sqlite"];
    public int[] Runners { get; init; } = [8, 32, 64];
    public double Seconds { get; init; } = 5;
    public int Spaces { get; init; } = 10_000;
    public int Days { get; init; } = 30;
    public int HeartbeatsPerDay { get; init; } = 24;
    public string? Postgres { get; init; }
    public string[] Parts { get; init; } = ["ingest", "invoice"];
    public string[] Syncs { get; init; } = ["full", "normal"];
    /// <summary>Heartbeats per request (1: the heartbeat route; more: the batch route, as a runner's outbox sends a backlog).</summary>
    public int[] Batches { get; init; } = [1];
    /// <summary>Core instance counts for the scale-out run on PostgreSQL (empty: the single-instance benchmark).</summary>
    public int[] Instances { get; init; } = [];
}

/// <summary>
/// Ingest events/s and latency percentiles with N concurrent runners (over HTTP on loopback, and straight into the
/// service without HTTP), and invoice time for many Spaces x days. Bounded loops; only 127.0.0.1 and the databases.
/// </summary>
public static class CoreBenchmark
{
    /// <summary>Runs the benchmark; false when a goal was missed or a figure is missing (each printed with ✗).</summary>
    public static async Task<bool> RunAsync(CoreBenchOptions o, TextWriter Console)
    {
        if (o.Instances.Length > 0) return await ScaleOutBenchmark.RunAsync(o, Console);
        var checks = new List<(bool Ok, string What)>();
        var dbs = o.Dbs; var runnersList = o.Runners; var seconds = o.Seconds; var invoiceSpaces = o.Spaces; var days = o.Days;
        var hbPerDay = o.HeartbeatsPerDay; var pg = o.Postgres; var parts = o.Parts; var syncs = o.Syncs;
        Console.WriteLine($"# core bench: {Environment.ProcessorCount} CPUs, .NET {Environment.Version}, {DateTime.UtcNow:u}, load average {LoadAverage()}");
        foreach (var db in dbs)
        {
            if (db == "postgres" && string.IsNullOrEmpty(pg)) { Console.WriteLine("postgres: skipped (set GPURUNNER_BENCH_POSTGRES)"); continue; }
            if (parts.Contains("ingest"))
                foreach (var sync in db == "sqlite" ? syncs : ["full"])
                    foreach (var batch in o.Batches)
                        foreach (var n in runnersList)
                        {
                            await using var env = await Env.StartAsync(db, pg, sync == "full");
                            var peer = db == "sqlite" ? await SqlitePeerAsync(sync == "full", seconds) : double.NaN;
                            if (db == "sqlite")
                                Console.WriteLine($"peer     bare SQLite INSERT loop, one row per transaction, synchronous={sync.ToUpperInvariant()}: {peer:0} rows/s");
                            foreach (var http in new[] { true, false })
                            {
                                var (events, failed) = await Ingest(Console, env, n, seconds, http, batch, peer);
                                checks.Add((events > 0 && failed == 0, $"{env.Kind} {(http ? "http" : "service")} runners={n} batch={batch}: events measured, 0 failed (got {events}, {failed} failed)"));
                            }
                            if (env.SqlitePath is { } path)
                            {
                                // After the run, before the store closes (closing truncates the WAL).
                                var wal = File.Exists(path + "-wal") ? new FileInfo(path + "-wal").Length : 0;
                                var size = new FileInfo(path).Length;
                                Console.WriteLine($"{env.Kind,-8} after the run: WAL {wal / 1048576.0:0.0} MiB, database {size / 1048576.0:0.0} MiB");
                                checks.Add((size > 0, $"{env.Kind} runners={n}: WAL and database sizes measured"));
                            }
                        }
            if (parts.Contains("invoice"))
            {
                await using var env = await Env.StartAsync(db, pg, true);
                await Invoice(Console, env, invoiceSpaces, days, hbPerDay);
            }
        }
        foreach (var (ok, what) in checks) Console.WriteLine($"{(ok ? "✓" : "✗")} {what}");
        return checks.All(c => c.Ok);
    }

    /// <summary>The SQLite ceiling: the same heartbeat rows into the core's own tables, one INSERT per transaction on
    /// one connection with the same synchronous setting, no core in between.</summary>
    private static async Task<double> SqlitePeerAsync(bool fsync, double seconds)
    {
        var dir = Directory.CreateTempSubdirectory("gpurunner-bench-peer-").FullName;
        try
        {
            var path = Path.Combine(dir, "core.db");
            await using (var store = new SqliteCoreStore(path, TimeProvider.System, fsync)) await store.InitializeAsync();
            await using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
            await c.OpenAsync();
            await using (var pragma = c.CreateCommand())
            {
                pragma.CommandText = $"PRAGMA journal_mode=WAL; PRAGMA synchronous={(fsync ? "FULL" : "NORMAL")};";
                await pragma.ExecuteNonQueryAsync();
            }
            await using var cmd = c.CreateCommand();
            cmd.CommandText = "INSERT INTO events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload) VALUES ('bench/s0', 'run:r', $id, 'heartbeat', $at, $at, 0, $payload)";
            var (id, at, payload) = (cmd.CreateParameter(), cmd.CreateParameter(), cmd.CreateParameter());
            (id.ParameterName, at.ParameterName, payload.ParameterName) = ("$id", "$at", "$payload");
            payload.Value = "[{\"index\":0,\"utilizationPct\":97,\"memoryUsedMiB\":12000,\"temperatureC\":61,\"powerW\":240}]";
            cmd.Parameters.Add(id); cmd.Parameters.Add(at); cmd.Parameters.Add(payload);
            var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            var sw = Stopwatch.StartNew();
            long rows = 0;
            for (; Stopwatch.GetTimestamp() < stopAt; rows++)
            {
                id.Value = "p" + rows;
                at.Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                await cmd.ExecuteNonQueryAsync();
            }
            return rows / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static async Task<(long Events, long Failed)> Ingest(TextWriter Console, Env env, int runners, double seconds, bool http, int batch, double peer)
    {
        // One Space per runner, each brought to RUNNING; then every runner sends heartbeats back to back.
        var spaces = new List<(string Id, string Token)>();
        for (var i = 0; i < runners; i++)
        {
            var id = $"bench/s{(http ? "h" : "d")}{runners}-{i}";
            await env.Core.CreateAsync(Principal.User("bench"), "bench", id.Split('/')[1], "docker", "t4-small", null);
            var token = await env.Core.IssueRunnerTokenAsync(Principal.User("bench"), id);
            var p = Principal.Runner(id, "bench");
            var now = env.Core.NowMs;
            await env.Core.RunnerEventAsync(p, id, "r", "runs", new RunStarted("r", "h") { AtMs = now }, now, null, null);
            await env.Core.RunnerEventAsync(p, id, "r", "s1", new StageReported("r", Stage.AppStarting, null) { AtMs = now }, now, null, null);
            await env.Core.RunnerEventAsync(p, id, "r", "s2", new StageReported("r", Stage.Running, null) { AtMs = now }, now, null, null);
            spaces.Add((id, token));
        }
        var latencies = new List<double>[runners];
        long errors = 0, good = 0;
        // A short unmeasured warm-up first (JIT tiers, connection pool, SQLite page cache), then the measured run.
        var warm = Math.Min(1.0, seconds / 5);
        await Phase(warm, "w");
        Array.Clear(latencies);
        (errors, good) = (0, 0);
        var sw = Stopwatch.StartNew();
        await Phase(seconds, "m");
        sw.Stop();
        var all = latencies.SelectMany(l => l).OrderBy(x => x).ToArray();
        double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        // Only successful requests are in the latencies, so only acknowledged events are counted.
        var events = good;
        var ratio = double.IsNaN(peer) ? "" : $" ({events / sw.Elapsed.TotalSeconds / peer:0.00}x peer)";
        Console.WriteLine($"{env.Kind,-8} ingest {(http ? "http   " : "service")} runners={runners,3} batch={batch,3}: {events / sw.Elapsed.TotalSeconds,8:0} events/s{ratio}  p50={P(0.50),6:0.00} ms  p99={P(0.99),6:0.00} ms  max={all.LastOrDefault(),7:0.0} ms per request  ({events} events, {errors} errors, {sw.Elapsed.TotalSeconds:0.0} s, load {LoadAverage()})");
        return (events, errors);

        Task Phase(double secs, string tag) => Task.WhenAll(Enumerable.Range(0, runners).Select(r => Task.Run(async () =>
        {
            var stopAt = Stopwatch.GetTimestamp() + (long)(secs * Stopwatch.Frequency);
            var (id, token) = spaces[r];
            var p = Principal.Runner(id, "bench");
            var list = latencies[r] = new List<double>(100_000);
            var path = $"api/runner/spaces/{id}/{(batch > 1 ? "batch" : "heartbeat")}";
            var auth = new AuthenticationHeaderValue("Bearer", token);
            var body = new StringBuilder();
            var inputs = new List<RunnerInput>(batch);
            for (var i = 0; Stopwatch.GetTimestamp() < stopAt; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var at = DateTimeOffset.UtcNow;
                if (http)
                {
                    body.Clear();
                    if (batch > 1) body.Append("{\"events\":[");
                    for (var k = 0; k < batch; k++)
                    {
                        if (batch > 1) body.Append(k == 0 ? "" : ",").Append("{\"route\":\"heartbeat\",\"body\":");
                        body.Append($$"""{"eventId":"{{tag}}{{i}}-{{k}}","at":"{{at:O}}","runId":"r","gpus":[{"index":0,"utilizationPct":97,"memoryUsedMiB":12000,"temperatureC":61,"powerW":240}]}""");
                        if (batch > 1) body.Append('}');
                    }
                    if (batch > 1) body.Append("]}");
                    using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.ToString(), Encoding.UTF8, "application/json") };
                    req.Headers.Authorization = auth;
                    using var resp = await env.Http.SendAsync(req);
                    if (!resp.IsSuccessStatusCode) { Interlocked.Increment(ref errors); continue; }
                    Interlocked.Add(ref good, batch);
                }
                else if (batch == 1)
                {
                    try { await env.Core.RunnerEventAsync(p, id, "r", tag + i, null, at.ToUnixTimeMilliseconds(), "[{\"index\":0}]", null); }
                    catch (Exception e) when (e is LifecycleException or StoreUnavailableException) { Interlocked.Increment(ref errors); continue; }
                    Interlocked.Increment(ref good);
                }
                else
                {
                    inputs.Clear();
                    for (var k = 0; k < batch; k++) inputs.Add(new RunnerInput("r", $"{tag}{i}-{k}", null, at.ToUnixTimeMilliseconds(), "[{\"index\":0}]", null));
                    var failed = (await env.Core.RunnerEventsAsync(p, id, inputs)).Count(x => x.Ack is null);
                    Interlocked.Add(ref errors, failed);
                    Interlocked.Add(ref good, batch - failed);
                    if (failed > 0) continue;
                }
                list.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds); // latencies of answered requests only
            }
        })));
    }

    private static async Task Invoice(TextWriter Console, Env env, int spaces, int days, int hbPerDay)
    {
        // 10k Spaces over 100 owners; each runs twice a day (9h + 3h) on a GPU; heartbeats every 24h/hbPerDay while up.
        var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        var flavors = HardwareCatalogue.Default.Flavors.Where(f => !f.IsFree).ToArray();
        var sw = Stopwatch.StartNew();
        const int chunk = 1000;
        for (var c0 = 0; c0 < spaces; c0 += chunk)
        {
            var ledger = new List<LedgerRow>();
            var events = new List<StoredEvent>();
            var states = new List<SpaceState>();
            for (var s = c0; s < Math.Min(spaces, c0 + chunk); s++)
            {
                var owner = $"owner{s % 100}";
                var id = $"{owner}/space{s}";
                var f = flavors[s % flavors.Length];
                states.Add(new SpaceState { Id = id, Uid = "u" + s, Owner = owner, Sdk = "docker", RequestedFlavor = f.Id, CurrentFlavor = f.Id, Stage = Stage.Paused, CreatedAtMs = start, StageSinceMs = start });
                for (var d = 0; d < days; d++)
                {
                    var day = start + d * 86_400_000L;
                    foreach (var (startHour, hours) in new[] { (8L, 9L), (19L, 3L) })
                    {
                        var a = day + startHour * 3_600_000 + (s % 600) * 1000;
                        ledger.Add(new LedgerRow(new UsageInterval(id, "u" + s, owner, f.Id, f.Id, f.HourlyMicroUsd, a, a + hours * 3_600_000), 1, "metered", a));
                    }
                    for (var h = 0; h < hbPerDay; h++)
                    {
                        var at = day + h * (86_400_000L / Math.Max(1, hbPerDay));
                        events.Add(new StoredEvent(id, "run:r", $"hb{d}-{h}", "heartbeat", at, at, false, "[{\"index\":0,\"utilizationPct\":90}]"));
                    }
                }
            }
            await env.Store.WriteAsync(tx => { foreach (var st in states) tx.InsertSpace(st); return 0; });
            await env.Store.BulkInsertAsync(events, ledger);
        }
        Console.WriteLine($"{env.Kind,-8} load: {spaces} Spaces x {days} days: {spaces * days * 2} ledger rows, {(long)spaces * days * hbPerDay} heartbeat events in {sw.Elapsed.TotalSeconds:0.0} s");
        var from = start; var to = start + days * 86_400_000L;
        for (var round = 0; round < 2; round++) // first round warms caches and JIT
        {
            sw.Restart();
            var all = await env.Core.InvoiceAsync("all", from, to, null, null);
            var tAll = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            long owed = 0;
            for (var o = 0; o < 100; o++) owed += (await env.Core.InvoiceAsync($"owner{o}", from, to, null, $"owner{o}")).OwedMicroUsd;
            var tOwners = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            for (var s = 0; s < 100; s++) await env.Core.InvoiceAsync("space", from, to, $"owner{s % 100}/space{s}", null);
            var tSpace = sw.Elapsed.TotalMilliseconds / 100;
            if (round == 1)
                Console.WriteLine($"{env.Kind,-8} invoice: all {all.Lines.Count} Space lines in {tAll:0} ms; 100 owner invoices in {tOwners:0} ms (sum {Money.Format(owed)} = total {Money.Format(all.OwedMicroUsd)}); one Space {tSpace:0.0} ms");
        }
    }

    private sealed class Env : IAsyncDisposable
    {
        public required string Kind { get; init; }
        public required ICoreStore Store { get; init; }
        public required CoreService Core { get; init; }
        public required Microsoft.AspNetCore.Builder.WebApplication App { get; init; }
        public required HttpClient Http { get; init; }
        /// <summary>The SQLite database file (null on PostgreSQL).</summary>
        public string? SqlitePath => _dir is null ? null : Path.Combine(_dir, "core.db");
        private string? _dir, _schema, _pg;

        public static async Task<Env> StartAsync(string kind, string? pg, bool fsync)
        {
            string spec; string? dir = null, schema = null;
            if (kind == "sqlite") { dir = Directory.CreateTempSubdirectory("gpurunner-bench-").FullName; spec = "sqlite:" + Path.Combine(dir, "core.db"); }
            else { schema = "bench_" + Guid.NewGuid().ToString("n")[..8]; spec = "postgres:" + new Npgsql.NpgsqlConnectionStringBuilder(pg) { SearchPath = schema, MaxPoolSize = 200 }.ConnectionString; }
            var store = CoreHost.OpenStore(spec, TimeProvider.System, fsync);
            var o = new CoreOptions { RunTimeRules = false };
            o.Urls.Add("http://127.0.0.1:0");
            o.Users.Add(("bench", "bench-token-0123456789", false));
            var app = await CoreHost.CreateAsync(store, o, l => l.AddFilter((_, level) => level >= Microsoft.Extensions.Logging.LogLevel.Warning));
            await app.StartAsync();
            var url = CoreHost.Addresses(app)[0].TrimEnd('/') + "/";
            var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
            return new Env { Kind = kind == "sqlite" ? (fsync ? "sqlite" : "sqlite-n") : kind, Store = store, Core = (CoreService)app.Services.GetService(typeof(CoreService))!, App = app, Http = http, _dir = dir, _schema = schema, _pg = pg };
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
            await Store.DisposeAsync();
            if (_dir is not null) Directory.Delete(_dir, true);
            if (_schema is not null)
            {
                await using var c = new Npgsql.NpgsqlConnection(_pg);
                await c.OpenAsync();
                await using var cmd = new Npgsql.NpgsqlCommand($"DROP SCHEMA \"{_schema}\" CASCADE", c);
                await cmd.ExecuteNonQueryAsync();
            }
        }
    }
}
