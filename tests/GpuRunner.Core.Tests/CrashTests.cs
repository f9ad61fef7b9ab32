using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace GpuRunner.Core.Tests;

/// <summary>
/// kill -9 of the real `gpurunner core serve` process while several runners send events, then a restart: every
/// acknowledged event is in the ledger exactly once, and retries of everything sent are safe.
/// </summary>
public class CrashTests
{
    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task KillMinus9WhileRunnersSendLosesNoAcknowledgedEvent(string db)
    {
        await using var tdb = TestDb.Create(db);
        var server = await CoreProcess.StartAsync(tdb.Spec);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var core = new Probe(http, server.Url);
        await core.Post("api/repos/create", TestCore.Alice, """{"name":"app","type":"space","sdk":"docker","hardware":"t4-small"}""");
        var now = DateTimeOffset.UtcNow;
        string Ev(string id, string run, string extra, DateTimeOffset at) => $$"""{"eventId":"{{id}}","at":"{{at:O}}","runId":"{{run}}"{{extra}}}""";
        await core.Post("api/runner/spaces/alice/app/runs", TestCore.Alice, Ev("runs", "run-1", ",\"host\":\"h\"", now));
        await core.Post("api/runner/spaces/alice/app/stage", TestCore.Alice, Ev("s1", "run-1", ",\"stage\":\"APP_STARTING\"", now));
        await core.Post("api/runner/spaces/alice/app/stage", TestCore.Alice, Ev("s2", "run-1", ",\"stage\":\"RUNNING\"", now));

        // 8 concurrent runners send heartbeats until the server dies under them.
        var acked = new ConcurrentBag<string>();
        var sent = new ConcurrentBag<(string Id, string Body)>();
        using var stop = new CancellationTokenSource();
        var runners = Enumerable.Range(0, 8).Select(r => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var id = $"r{r}-{i}";
                var body = Ev(id, "run-1", ",\"gpus\":[{\"index\":0,\"utilizationPct\":90}]", DateTimeOffset.UtcNow);
                sent.Add((id, body));
                try
                {
                    if (await core.TryPost("api/runner/spaces/alice/app/heartbeat", TestCore.Alice, body)) acked.Add(id);
                }
                catch (Exception) { return; } // the server is gone
            }
        })).ToArray();
        // Kill once 400 are acknowledged; a core that stops acknowledging (or runners that all died) fails within a
        // deadline instead of hanging the suite.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (acked.Count < 400 && DateTime.UtcNow < deadline && !runners.All(t => t.IsCompleted)) await Task.Delay(10);
        var ackedAtKill = acked.Count;
        server.Kill();                                  // SIGKILL: no shutdown code runs
        await stop.CancelAsync();
        Assert.True(await Task.WhenAll(runners).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(t => t.IsCompletedSuccessfully),
            "the runners did not stop within 30 s of the kill");
        Assert.True(ackedAtKill >= 400, $"only {ackedAtKill} heartbeat(s) acknowledged before the 60 s deadline or the runners' end");
        var ackedBeforeKill = acked.ToHashSet();

        var restarted = await CoreProcess.StartAsync(tdb.Spec);
        try
        {
            var again = new Probe(http, restarted.Url);
            // Every acknowledged event survived, once.
            await using (var store = tdb.Open(TimeProvider.System))
            {
                await store.InitializeAsync();
                var ids = (await store.EventsAsync("alice/app")).Select(e => e.EventId).ToList();
                Assert.Equal(ids.Count, ids.Distinct().Count());
                Assert.Empty(ackedBeforeKill.Except(ids));
            }
            // The runners' outboxes retry everything they sent: acknowledged ones come back as duplicates.
            foreach (var (id, body) in sent.Where(s => ackedBeforeKill.Contains(s.Id)).Take(200))
                Assert.Contains("\"duplicate\":true", await again.Post("api/runner/spaces/alice/app/heartbeat", TestCore.Alice, body));
            foreach (var (_, body) in sent.Where(s => !ackedBeforeKill.Contains(s.Id)))
                await again.Post("api/runner/spaces/alice/app/heartbeat", TestCore.Alice, body);
            await using (var store = tdb.Open(TimeProvider.System))
            {
                await store.InitializeAsync();
                var ids = (await store.EventsAsync("alice/app")).Select(e => e.EventId).ToList();
                Assert.Equal(ids.Count, ids.Distinct().Count());
                Assert.Equal(sent.Count + 4, ids.Count); // every sent heartbeat + created + runs + 2 stages, exactly once
            }
            var rt = await again.Get("api/spaces/alice/app/runtime", TestCore.Alice);
            Assert.Contains("\"stage\":\"RUNNING\"", rt);
        }
        finally
        {
            restarted.Kill();
        }
    }

    private sealed class Probe(HttpClient http, string baseUrl)
    {
        public async Task<string> Post(string path, string token, string body)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, baseUrl + path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
            req.Headers.Authorization = new("Bearer", token);
            using var r = await http.SendAsync(req);
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, $"{path}: {(int)r.StatusCode} {text}");
            return text;
        }

        public async Task<bool> TryPost(string path, string token, string body)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, baseUrl + path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
            req.Headers.Authorization = new("Bearer", token);
            using var r = await http.SendAsync(req);
            return r.IsSuccessStatusCode;
        }

        public async Task<string> Get(string path, string token)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, baseUrl + path);
            req.Headers.Authorization = new("Bearer", token);
            using var r = await http.SendAsync(req);
            return await r.Content.ReadAsStringAsync();
        }
    }
}

/// <summary>`gpurunner core serve` as a child process (the built gpurunner.dll under the dotnet host).</summary>
public sealed class CoreProcess
{
    private readonly Process _p;
    public string Url { get; }

    private CoreProcess(Process p, string url) => (_p, Url) = (p, url);

    public static string CliDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var dll = Path.Combine(dir.FullName, "src", "GpuRunner.Cli", "bin", config, "net10.0", "gpurunner.dll");
        Assert.True(File.Exists(dll), $"build the CLI first: {dll} is missing");
        return dll;
    }

    public bool HasExited => _p.HasExited;
    public int ExitCode => _p.ExitCode;
    public string Log => string.Join('\n', _log);
    private ConcurrentQueue<string> _log = new();

    /// <param name="fdLimit">Run under `ulimit -n` of this many open files (through bash).</param>
    public static async Task<CoreProcess> StartAsync(string dbSpec, int? fdLimit = null)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var psi = new ProcessStartInfo(fdLimit is null ? dotnet : "bash")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (fdLimit is { } n)
            foreach (var a in new[] { "-c", $"ulimit -n {n} && exec \"$0\" \"$@\"", dotnet }) psi.ArgumentList.Add(a);
        foreach (var a in new[] { CliDll(), "core", "serve", "--urls", "http://127.0.0.1:0", "--db", dbSpec, "--user", "alice=" + TestCore.Alice })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var url = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new ConcurrentQueue<string>();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            var m = Regex.Match(e.Data, @"listening on (http://[^\s,]+)");
            if (m.Success) url.TrySetResult(m.Groups[1].Value.TrimEnd('/') + "/");
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var done = await Task.WhenAny(url.Task, p.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != url.Task)
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            Assert.Fail("core serve did not start: " + string.Join('\n', log));
        }
        return new CoreProcess(p, await url.Task) { _log = log };
    }

    /// <summary>SIGKILL (Process.Kill on Unix), then wait for it to be gone.</summary>
    public void Kill()
    {
        try { _p.Kill(); } catch (InvalidOperationException) { }
        _p.WaitForExit(10_000);
        _p.Dispose();
    }
}
