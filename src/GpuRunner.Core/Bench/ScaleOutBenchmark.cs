using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using GpuRunner.Core.Storage;
using Npgsql;

namespace GpuRunner.Core.Bench;

/// <summary>
/// `core bench --instances 1,2,3`: N real `gpurunner core serve` processes on one PostgreSQL schema, in two scenarios:
/// <list type="bullet">
/// <item>capacity: R runners per instance (R = the largest --runners value), one per Space as in a real fleet, each
/// sending its requests round-robin over the instances as a load balancer without stickiness does. The offered load
/// grows with the instances, so the figure shows what an added instance adds while the host has CPU to spare.</item>
/// <item>contention: R runners in all, two per Space on different instances, so every Space is written by two
/// instances at once: the deadlock and lock-wait case. Judged on correctness and latency, not on growth.</item>
/// </list>
/// Reports events/s and p99, CPU-seconds per 1,000 events of the instances (each child's own CPU time: what an instance
/// costs wherever it runs), of PostgreSQL (its processes on this host, when it runs here) and of the load generator,
/// how busy the whole host was, deadlocks and retries (the instances' /metrics), and a peer that sets the ceiling:
/// bare single-row INSERT transactions of the same rows from as many connections. Computes its verdict.
/// </summary>
public static class ScaleOutBenchmark
{
    private const string UserToken = "bench-token-0123456789";
    private static readonly Regex Listening = new(@"listening on (http://[^\s,]+)", RegexOptions.Compiled);

    public enum Scenario { Capacity, Contention }

    public sealed record Result(Scenario Scenario, int Instances, int Runners, long Events, double Seconds, double P99Ms, double MaxMs,
        long Failed, long Server5xx, double CoreCpuSeconds, double? PostgresCpuSeconds, double GeneratorCpuSeconds, double HostBusy,
        long Deadlocks, long Retries)
    {
        public double EventsPerSecond => Events / Seconds;
        /// <summary>Core CPU (all instances) per 1,000 successful events; per instance it is the same figure.</summary>
        public double CpuPer1000 => Per1000(CoreCpuSeconds);
        public double Per1000(double cpuSeconds) => Events == 0 ? double.NaN : cpuSeconds / Events * 1000;
    }

    public static async Task<bool> RunAsync(CoreBenchOptions o, TextWriter console)
    {
        if (string.IsNullOrEmpty(o.Postgres)) { console.WriteLine("✗ --instances needs PostgreSQL: set --postgres or GPURUNNER_BENCH_POSTGRES"); return false; }
        var perInstance = o.Runners.Max();
        var cores = Environment.ProcessorCount;
        console.WriteLine($"# core scale-out: {cores} CPU cores on this machine, {o.Seconds:0.#} s per run, PostgreSQL {await ServerVersionAsync(o.Postgres)}, load average {LoadAverage()}");
        console.WriteLine($"# capacity: {perInstance} runners per instance, one per Space, requests round-robin over the instances; contention: {perInstance} runners in all, two per Space on different instances");
        var peer = await PeerAsync(o.Postgres, perInstance, o.Seconds);
        console.WriteLine($"peer     bare INSERT loop, {perInstance} connections, one row per transaction: {peer:0} rows/s (synchronous_commit as the server's)");
        var results = new List<Result>();
        foreach (var scenario in new[] { Scenario.Capacity, Scenario.Contention })
            foreach (var n in o.Instances.Distinct().Order())
            {
                var runners = scenario == Scenario.Capacity ? perInstance * n : perInstance;
                var r = await RunOnceAsync(o.Postgres, scenario, n, runners, o.Seconds);
                results.Add(r);
                var first = results.First(x => x.Scenario == scenario);
                var pgCpu = r.PostgresCpuSeconds is { } pc ? r.Per1000(pc).ToString("0.000", CultureInfo.InvariantCulture) : "n/a (not on this host)";
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{scenario.ToString().ToLowerInvariant(),-10} instances={n} runners={runners,4}: {r.EventsPerSecond,7:0} events/s ({r.EventsPerSecond / first.EventsPerSecond:0.00}x instances={first.Instances}, {r.EventsPerSecond / peer:0.00}x peer)  p99={r.P99Ms,6:0.0} ms  max={r.MaxMs,6:0.0} ms  CPU-s/1000 events: core={r.CpuPer1000:0.000} postgres={pgCpu} generator={r.Per1000(r.GeneratorCpuSeconds):0.000}  host busy {r.HostBusy * 100:0} %  deadlocks={r.Deadlocks} retries={r.Retries} failed={r.Failed} (5xx {r.Server5xx})"));
            }
        var checks = new List<(bool? Ok, string What)>();
        foreach (var r in results)
        {
            var tag = $"{r.Scenario.ToString().ToLowerInvariant()} instances={r.Instances}";
            var figures = r.Events > 0 && !double.IsNaN(r.P99Ms) && !double.IsNaN(r.CpuPer1000) && r.CoreCpuSeconds > 0 && r.Deadlocks >= 0 && r.Retries >= 0;
            checks.Add((figures, $"{tag}: every figure measured"));
            checks.Add((r.Failed == 0 && r.Server5xx == 0, $"{tag}: 0 failed requests, 0 x 5xx (got {r.Failed}, {r.Server5xx} x 5xx)"));
            checks.Add((r.Deadlocks == 0, $"{tag}: 0 deadlocks (got {r.Deadlocks})"));
            checks.Add((r.P99Ms < 500, $"{tag}: p99 < 500 ms (got {r.P99Ms:0.0} ms)"));
        }
        // Capacity grows: each added instance adds throughput while the host had CPU to spare at the smaller count.
        // Once the host is busy (the instances, PostgreSQL and the load generator share it), growth says nothing.
        var capacity = results.Where(r => r.Scenario == Scenario.Capacity).ToList();
        foreach (var (a, b) in capacity.Zip(capacity.Skip(1)))
        {
            var growth = b.EventsPerSecond / a.EventsPerSecond;
            var what = $"capacity instances={b.Instances}: >= 1.10x instances={a.Instances}'s events/s while the host had CPU to spare (got {growth:0.00}x; host {a.HostBusy * 100:0} % busy at instances={a.Instances})";
            checks.Add(a.HostBusy < 0.75 ? (growth >= 1.10, what) : (null, what + ": not judged, the host was busy"));
        }
        // Contention: two instances writing the same Spaces must not collapse to lock waits (judged, like growth, only
        // where the host had CPU to spare: on a saturated host every added process costs throughput).
        var one = results.FirstOrDefault(r => r.Scenario == Scenario.Contention && r.Instances == 1);
        foreach (var r in results.Where(r => r.Scenario == Scenario.Contention && r.Instances > 1 && one is not null))
        {
            var what = $"contention instances={r.Instances}: no collapse, >= 0.7x one instance's events/s (got {r.EventsPerSecond / one!.EventsPerSecond:0.00}x; host {r.HostBusy * 100:0} % busy)";
            checks.Add(r.HostBusy < 0.75 ? (r.EventsPerSecond >= 0.7 * one.EventsPerSecond, what) : (null, what + ": not judged, the host was busy"));
        }
        checks.Add((peer > 0, "peer measured"));
        foreach (var (ok, what) in checks) console.WriteLine($"{ok switch { true => "✓", false => "✗", null => "-" }} {what}");
        // Where capacity comes from: what one instance and the database each cost per event.
        if (capacity.FirstOrDefault() is { } c1 && !double.IsNaN(c1.CpuPer1000))
        {
            console.WriteLine($"# one instance spends {c1.CpuPer1000:0.000} CPU-s per 1,000 events: about {1000 / c1.CpuPer1000:0} events/s per core it is given");
            if (capacity.Last() is { PostgresCpuSeconds: { } pg and > 0 } last)
                console.WriteLine($"# PostgreSQL spends {last.Per1000(pg):0.000} CPU-s per 1,000 events: about {1000 / last.Per1000(pg):0} events/s per core of the database host");
        }
        return checks.All(c => c.Ok != false);
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static async Task<string> ServerVersionAsync(string pg)
    {
        await using var c = new NpgsqlConnection(pg);
        await c.OpenAsync();
        return c.PostgreSqlVersion.ToString();
    }

    private static async Task<Result> RunOnceAsync(string pg, Scenario scenario, int instances, int runners, double seconds)
    {
        var schema = "bench_" + Guid.NewGuid().ToString("n")[..8];
        var spec = "postgres:" + new NpgsqlConnectionStringBuilder(pg) { SearchPath = schema }.ConnectionString;
        var children = new List<Child>();
        var perSpace = scenario == Scenario.Capacity ? 1 : 2;
        try
        {
            // One at a time: the first creates the schema.
            for (var i = 0; i < instances; i++) children.Add(await Child.StartAsync(spec));
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096 }) { Timeout = TimeSpan.FromSeconds(30) };
            // Spaces and their runner tokens, created through the first instance, several at a time.
            var spaces = new (string Id, string Token)[(runners + perSpace - 1) / perSpace];
            await Parallel.ForEachAsync(Enumerable.Range(0, spaces.Length), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (s, _) =>
            {
                var first = children[0].Url;
                await Send(http, first, "api/repos/create", UserToken, $$"""{"name":"s{{s}}","type":"space","sdk":"docker","hardware":"t4-small"}""");
                var id = $"bench/s{s}";
                using var doc = JsonDocument.Parse(await Send(http, first, $"api/spaces/{id}/tokens", UserToken, "{}"));
                var token = doc.RootElement.GetProperty("token").GetString()!;
                var at = DateTimeOffset.UtcNow.ToString("O");
                await Send(http, first, $"api/runner/spaces/{id}/runs", token, $$"""{"eventId":"runs","at":"{{at}}","runId":"r","host":"bench"}""");
                await Send(http, first, $"api/runner/spaces/{id}/stage", token, $$"""{"eventId":"s1","at":"{{at}}","runId":"r","stage":"APP_STARTING"}""");
                await Send(http, first, $"api/runner/spaces/{id}/stage", token, $$"""{"eventId":"s2","at":"{{at}}","runId":"r","stage":"RUNNING"}""");
                spaces[s] = (id, token);
            });
            await Phase(Math.Min(1.0, seconds / 5), "w"); // warm-up: JIT, pools, token caches
            var cpu0 = children.Select(c => c.CpuSeconds()).ToArray();
            var pg0 = PostgresCpuSeconds();
            var gen0 = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            var host0 = HostTicks();
            var sw = Stopwatch.StartNew();
            var (lat, failed, server5xx) = await Phase(seconds, "m");
            sw.Stop();
            var cpu = children.Select((c, i) => c.CpuSeconds() - cpu0[i]).Sum();
            var pgCpu = PostgresCpuSeconds() is { } pg1 && pg0 is { } p0 ? pg1 - p0 : (double?)null;
            var gen = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - gen0;
            var host1 = HostTicks();
            var busy = host1.Total > host0.Total ? (double)(host1.Busy - host0.Busy) / (host1.Total - host0.Total) : double.NaN;
            long deadlocks = 0, retries = 0;
            foreach (var c in children)
            {
                var m = await http.GetStringAsync(new Uri(new Uri(c.Url), "metrics"));
                deadlocks += Counter(m, "gpurunner_store_deadlocks_total");
                retries += Counter(m, "gpurunner_store_retries_total");
            }
            if (failed > 0)
                foreach (var (c, i) in children.Select((c, i) => (c, i)))
                    foreach (var line in c.Complaints.TakeLast(10)) Console.Error.WriteLine($"core bench: instance {i + 1}: {line}");
            var all = lat.OrderBy(x => x).ToArray();
            var p99 = all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(0.99 * all.Length))];
            return new Result(scenario, instances, runners, all.Length, sw.Elapsed.TotalSeconds, p99, all.LastOrDefault(), failed, server5xx,
                cpu, pgCpu, gen, busy, deadlocks, retries);

            async Task<(ConcurrentBag<double> Lat, long Failed, long Server5xx)> Phase(double secs, string tag)
            {
                var latencies = new ConcurrentBag<double>();
                long bad = 0, five = 0, timeouts = 0;
                await Task.WhenAll(Enumerable.Range(0, runners).Select(r => Task.Run(async () =>
                {
                    var stopAt = Stopwatch.GetTimestamp() + (long)(secs * Stopwatch.Frequency);
                    var (id, token) = spaces[r / perSpace];
                    // Contention pins a runner to an instance (the two of a Space on different ones); capacity goes
                    // round-robin, as a load balancer without stickiness sends one runner's requests.
                    var urls = Enumerable.Range(0, instances)
                        .Select(k => new Uri(new Uri(children[(r + k) % instances].Url), $"api/runner/spaces/{id}/heartbeat"))
                        .Take(scenario == Scenario.Capacity ? instances : 1).ToArray();
                    var auth = new AuthenticationHeaderValue("Bearer", token);
                    var mine = new List<double>(100_000);
                    for (var i = 0; Stopwatch.GetTimestamp() < stopAt; i++)
                    {
                        var t0 = Stopwatch.GetTimestamp();
                        var body = $$"""{"eventId":"{{tag}}{{r}}-{{i}}","at":"{{DateTimeOffset.UtcNow:O}}","runId":"r","gpus":[{"index":0,"utilizationPct":97,"memoryUsedMiB":12000,"temperatureC":61,"powerW":240}]}""";
                        using var req = new HttpRequestMessage(HttpMethod.Post, urls[i % urls.Length]) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                        req.Headers.Authorization = auth;
                        try
                        {
                            using var resp = await http.SendAsync(req);
                            // Only acknowledged events count.
                            if (resp.IsSuccessStatusCode) mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                            else { Interlocked.Increment(ref bad); if ((int)resp.StatusCode >= 500) Interlocked.Increment(ref five); }
                        }
                        catch (HttpRequestException) { Interlocked.Increment(ref bad); }
                        // No answer within the client's timeout: a failed request (the benchmark goes on).
                        catch (TaskCanceledException) { Interlocked.Increment(ref bad); Interlocked.Increment(ref timeouts); }
                    }
                    foreach (var x in mine) latencies.Add(x);
                })));
                if (timeouts > 0) Console.Error.WriteLine($"core bench: {timeouts} request(s) got no answer within {http.Timeout.TotalSeconds:0} s");
                return (latencies, bad, five);
            }
        }
        finally
        {
            foreach (var c in children) await c.StopAsync();
            await DropSchemaAsync(pg, schema);
        }
    }

    /// <summary>The CPU time of every `postgres` process on this host (utime + stime, in seconds), or null when none
    /// is visible (the database runs elsewhere). Backends started during a run count from zero, as they should.</summary>
    private static double? PostgresCpuSeconds()
    {
        long ticks = 0;
        var found = false;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!char.IsAsciiDigit(Path.GetFileName(dir)[0])) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() != "postgres") continue;
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture); // utime, stime
                found = true;
            }
            catch (IOException) { } // exited meanwhile
            catch (UnauthorizedAccessException) { }
        }
        return found ? ticks / 100.0 : null; // USER_HZ is 100 on Linux
    }

    /// <summary>The host's CPU ticks from /proc/stat: busy (all but idle and iowait) and total.</summary>
    private static (long Busy, long Total) HostTicks()
    {
        try
        {
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            var total = f.Sum();
            return (total - f[3] - f[4], total);
        }
        catch (IOException) { return (0, 0); }
    }

    private static long Counter(string metrics, string name) =>
        metrics.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Select(l => long.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault(-1);

    private static async Task<string> Send(HttpClient http, string baseUrl, string path, string token, string json)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(baseUrl), path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var resp = await http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"bench setup: POST {path} answered {(int)resp.StatusCode}: {text}");
        return text;
    }

    /// <summary>The ceiling: the same heartbeat rows into the same table and indexes, one INSERT per transaction from
    /// <paramref name="connections"/> connections, no core in between.</summary>
    private static async Task<double> PeerAsync(string pg, int connections, double seconds)
    {
        var schema = "bench_peer_" + Guid.NewGuid().ToString("n")[..8];
        var cs = new NpgsqlConnectionStringBuilder(pg) { SearchPath = schema, MaxPoolSize = connections + 5 }.ConnectionString;
        try
        {
            await using (var store = new PostgresCoreStore(cs)) await store.InitializeAsync(); // the core's own tables
            await using var source = NpgsqlDataSource.Create(cs);
            long rows = 0;
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, connections).Select(r => Task.Run(async () =>
            {
                await using var c = await source.OpenConnectionAsync();
                await using var cmd = new NpgsqlCommand("INSERT INTO events (space_id, source, event_id, kind, at_ms, received_ms, state_change, payload) VALUES ($1, 'run:r', $2, 'heartbeat', $3, $3, 0, $4)", c);
                for (var k = 0; k < 4; k++) cmd.Parameters.Add(new NpgsqlParameter());
                var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
                for (var i = 0; Stopwatch.GetTimestamp() < stopAt; i++)
                {
                    cmd.Parameters[0].Value = $"bench/s{r / 2}";
                    cmd.Parameters[1].Value = $"p{r}-{i}";
                    cmd.Parameters[2].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    cmd.Parameters[3].Value = """[{"index":0,"utilizationPct":97,"memoryUsedMiB":12000,"temperatureC":61,"powerW":240}]""";
                    await cmd.ExecuteNonQueryAsync();
                    Interlocked.Increment(ref rows);
                }
            })));
            return rows / sw.Elapsed.TotalSeconds;
        }
        finally { await DropSchemaAsync(pg, schema); }
    }

    private static async Task DropSchemaAsync(string pg, string schema)
    {
        await using var c = new NpgsqlConnection(pg);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>`gpurunner core serve` as a child process: this same program (under the dotnet host when it is a dll).</summary>
    private sealed class Child
    {
        private readonly Process _p;
        private readonly ConcurrentQueue<string> _log;
        public string Url { get; }
        private Child(Process p, string url, ConcurrentQueue<string> log) => (_p, Url, _log) = (p, url, log);

        /// <summary>The instance's warnings and errors among its last 200 log lines (why a run had failures).</summary>
        public IEnumerable<string> Complaints => _log.Where(l => l.Contains("warn", StringComparison.OrdinalIgnoreCase)
            || l.Contains("fail", StringComparison.OrdinalIgnoreCase) || l.Contains("error", StringComparison.OrdinalIgnoreCase));

        public double CpuSeconds() { _p.Refresh(); return _p.TotalProcessorTime.TotalSeconds; }

        public static async Task<Child> StartAsync(string dbSpec)
        {
            var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which program to start");
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            var entry = Assembly.GetEntryAssembly()?.Location;
            if (Path.GetFileNameWithoutExtension(exe) == "dotnet" && !string.IsNullOrEmpty(entry)) psi.ArgumentList.Add(entry);
            foreach (var a in new[] { "core", "serve", "--urls", "http://127.0.0.1:0", "--db", dbSpec, "--user", "bench=" + UserToken })
                psi.ArgumentList.Add(a);
            var p = Process.Start(psi)!;
            var url = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new ConcurrentQueue<string>();
            void Keep(string line)
            {
                log.Enqueue(line);
                while (log.Count > 200) log.TryDequeue(out _); // the last lines say why a run went wrong
            }
            p.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                Keep(e.Data);
                if (Listening.Match(e.Data) is { Success: true } m) url.TrySetResult(m.Groups[1].Value.TrimEnd('/') + "/");
            };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) Keep(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var done = await Task.WhenAny(url.Task, p.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
            if (done != url.Task)
            {
                try { p.Kill(); } catch (InvalidOperationException) { }
                throw new InvalidOperationException("core serve did not start: " + string.Join('\n', log));
            }
            return new Child(p, await url.Task, log);
        }

        public async Task StopAsync()
        {
            try { _p.Kill(); } catch (InvalidOperationException) { }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _p.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
            _p.Dispose();
        }
    }
}
