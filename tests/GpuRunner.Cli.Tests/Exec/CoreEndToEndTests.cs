using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using GpuRunner.Cli.Exec;
using Microsoft.Data.Sqlite;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>A real `gpurunner core serve` process on loopback with its own SQLite file; killable and restartable.</summary>
internal sealed class LiveCore : IDisposable
{
    public readonly string Dir = Path.Combine(Path.GetTempPath(), "gpurunner-core-" + Guid.NewGuid().ToString("N"));
    public readonly int Port = FreePort();
    public Uri Url => new($"http://127.0.0.1:{Port}/");
    public const string OwnerToken = "alice-token";
    private RunnerProcess? _process;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public LiveCore()
    {
        Directory.CreateDirectory(Dir);
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OwnerToken);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async Task StartAsync()
    {
        _process = new RunnerProcess(["core", "serve", "--urls", Url.ToString().TrimEnd('/'), "--db", $"sqlite:{Dir}/core.db",
            "--user", $"alice={OwnerToken}", "--tick", "0.2"], new Dictionary<string, string?> { ["GPURUNNER_DATA"] = Dir });
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var r = await _http.GetAsync(new Uri(Url, "healthz"));
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"core did not start:\n{_process.StdOut}\n{_process.StdErr}");
            await Task.Delay(100);
        }
    }

    /// <summary>kill -9: no goodbye, whatever was in flight is lost unless it was committed.</summary>
    public async Task KillAsync()
    {
        Posix.Kill(_process!.Pid, Posix.SIGKILL);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Creates alice/NAME on <paramref name="hardware"/> and returns a runner token for it.</summary>
    public async Task<string> CreateSpaceAsync(string name, string hardware)
    {
        using var create = await _http.PostAsJsonAsync(new Uri(Url, "api/repos/create"),
            new Dictionary<string, object?> { ["name"] = name, ["type"] = "space", ["sdk"] = "docker", ["hardware"] = hardware });
        Assert.True(create.IsSuccessStatusCode, await create.Content.ReadAsStringAsync());
        using var token = await _http.PostAsync(new Uri(Url, $"api/spaces/alice/{name}/tokens"), null);
        Assert.True(token.IsSuccessStatusCode, await token.Content.ReadAsStringAsync());
        return (await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    public async Task<JsonElement> GetAsync(string path)
    {
        using var r = await _http.GetAsync(new Uri(Url, path));
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Rows the core stored for one run, by kind (read from its database after the fact).</summary>
    public Dictionary<string, int> EventsOfRun(string runId)
    {
        using var db = new SqliteConnection($"Data Source={Dir}/core.db;Mode=ReadOnly;Pooling=false");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT kind, count(*) FROM events WHERE source = $s GROUP BY kind";
        cmd.Parameters.AddWithValue("$s", "run:" + runId);
        using var r = cmd.ExecuteReader();
        var counts = new Dictionary<string, int>();
        while (r.Read()) counts[r.GetString(0)] = r.GetInt32(1);
        return counts;
    }

    public string Log => _process is null ? "" : _process.StdOut + _process.StdErr;

    public void Dispose()
    {
        _process?.Dispose();
        _http.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>
/// End to end: a real core process and a real runner process on loopback, with `sh` as the app. Never skipped: a
/// broken `core serve` fails here.
/// </summary>
public sealed class CoreEndToEndTests
{

    private static RunnerProcess Exec(LiveCore core, string space, string token, string script, string data, params string[] extra) =>
        new([.. new[] { "exec", "--core", core.Url.ToString(), "--space", space, "--token", token, "--ready-log", "^ready$", "--heartbeat", "1" },
             .. extra, "--", "sh", "-c", script],
            new Dictionary<string, string?> { ["GPURUNNER_DATA"] = data });

    private static (string RunId, int Recorded) Summary(RunnerProcess runner)
    {
        var m = Regex.Match(runner.StdErr, @"\[gpurunner\] run (\S+): (\d+) event\(s\) recorded, all delivered");
        Assert.True(m.Success, "no delivery summary:\n" + runner.StdErr);
        return (m.Groups[1].Value, int.Parse(m.Groups[2].Value));
    }

    private static double MeteredSeconds(JsonElement ledger) =>
        ledger.EnumerateArray().Sum(r => r.GetProperty("seconds").GetDouble() * r.GetProperty("sign").GetInt32());

    [Fact]
    public async Task TheCoreSeesTheStagesAndMetersExactlyTheRunningTime()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("steady", "t4-small");

        using var runner = Exec(core, "alice/steady", token, "sleep 0.5; echo ready; sleep 2.5; echo bye", core.Dir + "/runner");
        await runner.WaitForOutputAsync("stage RUNNING");
        Assert.Equal(0, await runner.WaitForExitAsync());

        var (runId, recorded) = Summary(runner);
        var runtime = await core.GetAsync("api/spaces/alice/steady/runtime");
        Assert.Equal("STOPPED", runtime.GetProperty("stage").GetString());
        Assert.Equal(runId, runtime.GetProperty("runId").GetString());
        Assert.False(runtime.GetProperty("billing").GetProperty("billing").GetBoolean());

        // Every event the runner made is in the core once: runs, APP_STARTING, RUNNING, STOPPED, exit, heartbeats.
        var events = core.EventsOfRun(runId);
        Assert.Equal(recorded, events.Values.Sum());
        Assert.InRange(events.GetValueOrDefault("heartbeat"), 1, 4);

        // Billing: one interval, RUNNING -> STOPPED, i.e. the 2.5 s the app ran after it printed "ready".
        var ledger = await core.GetAsync("api/usage/spaces/alice/steady/ledger");
        Assert.Single(ledger.EnumerateArray());
        Assert.InRange(MeteredSeconds(ledger), 2.0, 3.5); // ± scheduling jitter of a loaded 2-core machine
        var invoice = await core.GetAsync("api/usage/spaces/alice/steady");
        var line = Assert.Single(invoice.GetProperty("lines").EnumerateArray());
        Assert.Equal(1, line.GetProperty("minutes").GetInt64()); // ceil(2.5 s / 60)
        Assert.Equal(MeteredSeconds(ledger), line.GetProperty("meteredSeconds").GetDouble(), 3);
    }

    [Fact]
    public async Task ACoreOutageLosesNothingAndCountsNothingTwice()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("outage", "t4-small");

        using var runner = Exec(core, "alice/outage", token, "echo ready; sleep 7; echo done", core.Dir + "/runner");
        await runner.WaitForOutputAsync("stage RUNNING");
        await Task.Delay(1200); // a heartbeat or so gets through
        await core.KillAsync();
        await runner.WaitForOutputAsync("app keeps running"); // the runner noticed, the app did not
        await Task.Delay(2500);
        await core.StartAsync();
        Assert.Equal(0, await runner.WaitForExitAsync());

        Assert.Contains("done", runner.StdOut);
        Assert.True(runner.StdErr.Contains("core reachable again"), runner.StdErr);
        var (runId, recorded) = Summary(runner);
        var events = core.EventsOfRun(runId);
        Assert.Equal(recorded, events.Values.Sum()); // none lost, none applied twice
        Assert.InRange(events.GetValueOrDefault("heartbeat"), 4, 9); // the ones made during the outage arrived late

        var runtime = await core.GetAsync("api/spaces/alice/outage/runtime");
        Assert.Equal("STOPPED", runtime.GetProperty("stage").GetString());
        var ledger = await core.GetAsync("api/usage/spaces/alice/outage/ledger");
        Assert.Single(ledger.EnumerateArray());
        var metered = MeteredSeconds(ledger);
        Assert.True(metered is >= 6.5 and <= 8.5, $"{metered} s metered; ledger {ledger}\n{runner.StdErr}"); // the app ran all along
    }

    [Fact]
    public async Task ACrashingAppIsARuntimeErrorThatAutoPausesAndStopsBilling()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("crashy", "t4-small");

        using var runner = Exec(core, "alice/crashy", token, "echo ready; sleep 1.5; echo 'RuntimeError: CUDA out of memory' >&2; exit 3", core.Dir + "/runner");
        Assert.Equal(3, await runner.WaitForExitAsync());

        Summary(runner);
        var runtime = await core.GetAsync("api/spaces/alice/crashy/runtime");
        Assert.Equal("PAUSED", runtime.GetProperty("stage").GetString());
        Assert.Contains("auto-paused", runtime.GetProperty("pauseReason").GetString());
        Assert.Contains("CUDA out of memory", runtime.GetProperty("errorMessage").GetString()
                                              + runtime.GetProperty("pauseReason").GetString());
        Assert.False(runtime.GetProperty("billing").GetProperty("billing").GetBoolean());

        var ledger = await core.GetAsync("api/usage/spaces/alice/crashy/ledger");
        Assert.Single(ledger.EnumerateArray());
        Assert.InRange(MeteredSeconds(ledger), 1.0, 2.5);
        await Task.Delay(1000); // time passes; a paused Space accrues nothing
        Assert.Equal(MeteredSeconds(ledger), MeteredSeconds(await core.GetAsync("api/usage/spaces/alice/crashy/ledger")));
    }

    [Fact]
    public async Task EventsLeftByARunWhileTheCoreWasDownAreSentByReport()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("later", "t4-small");
        await core.KillAsync();
        var data = core.Dir + "/runner";

        // The whole run happens while the core is down: the app runs, its events stay in the outbox.
        using (var runner = Exec(core, "alice/later", token, "echo ready; sleep 1", data))
        {
            Assert.Equal(0, await runner.WaitForExitAsync());
            Assert.Contains("not delivered yet", runner.StdErr);
        }

        // report while the core is still down: 75 (EX_TEMPFAIL), everything kept in the outbox for the next try.
        var reportArgs = new[] { "report", "--core", core.Url.ToString(), "--space", "alice/later", "--token", token, "--json" };
        using (var early = new RunnerProcess(reportArgs, new Dictionary<string, string?> { ["GPURUNNER_DATA"] = data }))
        {
            Assert.Equal(75, await early.WaitForExitAsync());
            using var kept = JsonDocument.Parse(early.StdOut);
            Assert.True(kept.RootElement.GetProperty("pending").GetInt32() > 0, early.StdOut);
            Assert.False(kept.RootElement.GetProperty("deviceReportSent").GetBoolean());
        }

        await core.StartAsync();
        using var report = new RunnerProcess(reportArgs, new Dictionary<string, string?> { ["GPURUNNER_DATA"] = data });
        var code = await report.WaitForExitAsync();
        using var result = JsonDocument.Parse(report.StdOut);
        // Delivered: 0, or 1 when the device checks FAILed (as here, on a machine without a GPU).
        Assert.Equal(result.RootElement.GetProperty("verdict").GetString() == "FAIL" ? 1 : 0, code);
        Assert.Equal(0, result.RootElement.GetProperty("pending").GetInt32());
        Assert.True(result.RootElement.GetProperty("deviceReportSent").GetBoolean());

        // The earlier run's stages arrived (late, in order) and its running time is metered; then report's device
        // report registered a run of its own and the core compared the hardware.
        var ledger = await core.GetAsync("api/usage/spaces/alice/later/ledger");
        Assert.InRange(MeteredSeconds(ledger), 0.5, 2.5);
        var runtime = await core.GetAsync("api/spaces/alice/later/runtime");
        Assert.Equal("STOPPED", runtime.GetProperty("stage").GetString());
        Assert.Equal(result.RootElement.GetProperty("runId").GetString(), runtime.GetProperty("runId").GetString());
        Assert.Equal(2, core.EventsOfRun(result.RootElement.GetProperty("runId").GetString()!).Values.Sum()); // runs + device
    }
}
