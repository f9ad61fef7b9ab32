using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GpuRunner.Tests.Fakes;
using Microsoft.Data.Sqlite;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>
/// The GPU watch end to end: a real core process, the real `exec` over the fake NVML, and an app that crashes the
/// way a CUDA app does once its GPU falls off the bus (the fake makes a file when the runner first learns of it).
/// </summary>
public sealed class GpuWatchEndToEndTests
{
    private static readonly bool HasCore = CliApp.Build(new TestConsole()).Subcommands.Any(c => c.Name == "core");
    private const string NoCore = "this build has no `gpurunner core serve`";

    /// <summary>Waits (at most 30 s) for the fake's "lost" file, then dies as PyTorch does on a lost GPU.</summary>
    private const string CrashingApp =
        "echo ready; i=0; while [ ! -e \"$FAKE_NVML_LOST_FILE\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; " +
        "echo 'RuntimeError: CUDA error: unknown error' >&2; exit 1";

    private static RunnerProcess Exec(LiveCore core, string space, string token, string dir, string events, string? extraUnsupported = null) =>
        new(["exec", "--core", core.Url.ToString(), "--space", space, "--token", token, "--ready-log", "^ready$", "--heartbeat", "1",
             "--gpu-poll", "0.5", "--", "sh", "-c", CrashingApp],
            new Dictionary<string, string?>
            {
                ["GPURUNNER_DATA"] = dir, ["GPURUNNER_NVML_PATH"] = FakeDrivers.Folder, ["GPURUNNER_CUDA_PATH"] = FakeDrivers.Folder,
                ["FAKE_NVML_EVENTS"] = events, ["FAKE_NVML_LOST_FILE"] = Path.Combine(dir, "lost"), ["FAKE_GPU_UTIL"] = "87",
                ["FAKE_NVML_THROTTLE"] = "0x4", ["FAKE_NVML_UNSUPPORTED"] = extraUnsupported,
                ["FAKE_NVML_TRIGGER_FILE"] = Path.Combine(dir, "trigger"),
            });

    /// <summary>Waits (at most 30 s) until the core stored a heartbeat with the fake GPU's readings.</summary>
    private static async Task WaitForGpuHeartbeatAsync(LiveCore core, RunnerProcess runner)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using (var db = new SqliteConnection($"Data Source={core.Dir}/core.db;Mode=ReadOnly;Pooling=false"))
            {
                db.Open();
                using var cmd = db.CreateCommand();
                cmd.CommandText = "SELECT count(*) FROM events WHERE kind = 'heartbeat' AND payload LIKE '%\"utilizationPct\":87%'";
                if ((long)cmd.ExecuteScalar()! > 0) return;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("no heartbeat with GPU readings reached the core:\n" + runner.StdErr);
            await Task.Delay(100);
        }
    }

    private static long GpuEventAtMs(LiveCore core, string kind)
    {
        using var db = new SqliteConnection($"Data Source={core.Dir}/core.db;Mode=ReadOnly;Pooling=false");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT at_ms FROM events WHERE kind = $k";
        cmd.Parameters.AddWithValue("$k", kind);
        return (long)cmd.ExecuteScalar()!;
    }

    [SkippableTheory]
    [InlineData("events", null)]
    [InlineData("poll", "events")] // NVML events not supported (as in many containers): the poll finds the lost GPU
    public async Task AGpuThatFallsOffTheBusIsThePlatformsFaultInTheLogTheStageTheBillThePageAndTheMetrics(string mode, string? unsupported)
    {
        Skip.IfNot(HasCore, NoCore);
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("gpufault", "a10g-small");
        var dir = Path.Combine(core.Dir, "runner");
        Directory.CreateDirectory(dir);

        // The GPU falls off once a heartbeat with its readings has reached the core (so the charts have a line).
        using var runner = Exec(core, "alice/gpufault", token, dir, "xid:79@trigger", unsupported);
        await WaitForGpuHeartbeatAsync(core, runner);
        await File.WriteAllTextAsync(Path.Combine(dir, "trigger"), "now");
        Assert.Equal(1, await runner.WaitForExitAsync());
        var log = runner.StdErr;

        // The log: the watch's mode, one line for the fault with its class and what to do, power-cap as information.
        Assert.Contains(mode == "events" ? "GPU watch: 1 GPU(s), NVML events" : "NVML events not available (NVML_ERROR_NOT_SUPPORTED)", log);
        var cause = mode == "events" ? "the GPU fell off the bus (Xid 79)" : "the GPU fell off the bus (NVML_ERROR_GPU_IS_LOST)";
        Assert.Matches(new Regex($@"GPU 0: {Regex.Escape(cause)} at \d\d:\d\d:\d\d: hardware fault, not your code\. the GPU needs a reset or a replacement"), log);
        Assert.Contains("power-cap throttling: clocks held down to stay under the power limit (clock event reason 0x4) at", log);
        Assert.Contains("informational. normal under load: nothing to do", log);
        // The RUNTIME_ERROR names the GPU cause first, not only the stderr tail.
        Assert.Matches(new Regex($@"stage RUNTIME_ERROR: {Regex.Escape(cause)} at \d\d:\d\d:\d\d: hardware fault, not your code"), log);

        // The core: the platform's fault, RUNTIME_ERROR but not paused, billing closed at the fault's instant.
        var runtime = await core.GetAsync("api/spaces/alice/gpufault/runtime");
        Assert.Equal("RUNTIME_ERROR", runtime.GetProperty("stage").GetString());
        Assert.False(runtime.GetProperty("paused").GetBoolean());
        Assert.False(runtime.GetProperty("billing").GetProperty("billing").GetBoolean());
        Assert.StartsWith("platform fault: " + cause, runtime.GetProperty("errorMessage").GetString());
        var fault = runtime.GetProperty("platformFault");
        Assert.Equal(79, fault.GetProperty("code").GetInt32());
        Assert.Equal("hardware", fault.GetProperty("class").GetString());
        var ledger = await core.GetAsync("api/usage/spaces/alice/gpufault/ledger");
        var interval = Assert.Single(ledger.EnumerateArray());
        // Billing closed at the fault's instant, or at the crash when the poll saw the lost GPU just after the app
        // died of it (the fault then still explains the crash).
        var end = DateTimeOffset.Parse(interval.GetProperty("end").GetString()!).ToUnixTimeMilliseconds();
        Assert.Equal(Math.Min(GpuEventAtMs(core, "gpu:hardware"), GpuEventAtMs(core, "stage:RUNTIME_ERROR")), end);

        // /metrics: the event counter by class and code, and the GPU gauges under dcgm-exporter's names.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await http.GetStringAsync(new Uri(core.Url, "metrics"));
        Assert.Contains($"gpurunner_gpu_events_total{{class=\"hardware\",code=\"{(mode == "events" ? "79" : "gpu_lost")}\"}} 1\n", metrics);
        Assert.Contains("gpurunner_gpu_events_total{class=\"info\",code=\"throttle\"} 1\n", metrics);
        Assert.Contains("DCGM_FI_DEV_GPU_UTIL{space=\"alice/gpufault\",gpu=\"0\"} 87\n", metrics);
        Assert.Matches(@"DCGM_FI_DEV_POWER_USAGE\{space=""alice/gpufault"",gpu=""0""\} 18\.\d\n", metrics); // 18.25 W, to 0.1 W

        // The Space page: the fault notice and the GPU charts with the fault marked.
        var page = await SpacePageAsync(core, "alice/gpufault");
        Assert.Contains("id=\"gpu-fault\"", page);
        Assert.Contains(WebUtility.HtmlEncode(cause), page.Replace("&#x27;", "'"));
        Assert.Contains("Billing closed at", page);
        Assert.Contains("<svg id=\"gpu0-util\"", page);
        Assert.Matches("class=\"marker gpu-event\"[^>]*stroke=\"#C62828\"", page);
    }

    /// <summary>Logs in through the login form (CSRF cookie + field) and fetches a Space page.</summary>
    internal static async Task<string> SpacePageAsync(LiveCore core, string id)
    {
        using var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { BaseAddress = core.Url, Timeout = TimeSpan.FromSeconds(10) };
        var login = await http.GetStringAsync("login");
        var csrf = Regex.Match(login, "name=\"_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["_csrf"] = csrf, ["token"] = LiveCore.OwnerToken, ["next"] = "/spaces" });
        using var posted = await http.PostAsync("login", form);
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        using var r = await http.GetAsync($"spaces/{id}");
        var html = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, html);
        return html;
    }
}
