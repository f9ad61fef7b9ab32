using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>A real core in this process (Kestrel on loopback, its own SQLite file, real time rules every 0.2 s) with
/// short policy times, so that sleep and lost heartbeats happen in seconds.</summary>
internal sealed class InProcessCore : IAsyncDisposable
{
    public const string OwnerToken = "alice-token-supervision";
    public readonly string Dir = Directory.CreateTempSubdirectory("gpurunner-supervision-").FullName;
    public WebApplication App { get; private set; } = null!;
    public Uri Url { get; private set; } = null!;
    public Core.Services.CoreService Service => (Core.Services.CoreService)App.Services.GetService(typeof(Core.Services.CoreService))!;
    private Core.Storage.ICoreStore _store = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(15) };

    public static async Task<InProcessCore> StartAsync(Func<Lifecycle.LifecyclePolicy, Lifecycle.LifecyclePolicy>? policy = null)
    {
        var c = new InProcessCore();
        var o = new CoreOptions { TickInterval = TimeSpan.FromSeconds(0.2) };
        o.Policy = (policy ?? (p => p))(o.Policy with { MinSleepSeconds = 1 });
        o.Urls.Add("http://127.0.0.1:0");
        o.Users.Add(("alice", OwnerToken, false));
        c._store = CoreHost.OpenStore($"sqlite:{c.Dir}/core.db", o.Clock);
        c.App = await CoreHost.CreateAsync(c._store, o, l => l.AddFilter((_, level) => level >= LogLevel.Warning));
        await c.App.StartAsync();
        c.Url = new Uri(CoreHost.Addresses(c.App)[0].TrimEnd('/') + "/");
        c._http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OwnerToken);
        return c;
    }

    /// <summary>Creates alice/NAME and returns a runner token for it.</summary>
    public async Task<string> CreateSpaceAsync(string name, string hardware = "t4-small")
    {
        await PostAsync("api/repos/create", new Dictionary<string, object?> { ["name"] = name, ["type"] = "space", ["sdk"] = "docker", ["hardware"] = hardware });
        return (await PostAsync($"api/spaces/alice/{name}/tokens")).GetProperty("token").GetString()!;
    }

    public async Task<JsonElement> PostAsync(string path, object? body = null)
    {
        using var r = body is null ? await _http.PostAsync(new Uri(Url, path), null) : await _http.PostAsJsonAsync(new Uri(Url, path), body);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"POST {path}: {(int)r.StatusCode} {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task DeleteSpaceAsync(string name)
    {
        using var req = new HttpRequestMessage(HttpMethod.Delete, new Uri(Url, "api/repos/delete"))
        {
            Content = JsonContent.Create(new Dictionary<string, object?> { ["type"] = "space", ["name"] = name }),
        };
        using var r = await _http.SendAsync(req);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    public async Task<JsonElement> GetAsync(string path)
    {
        using var r = await _http.GetAsync(new Uri(Url, path));
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"GET {path}: {(int)r.StatusCode} {body}");
        return body.TrimStart().StartsWith('{') || body.TrimStart().StartsWith('[') ? JsonDocument.Parse(body).RootElement.Clone() : default;
    }

    public async Task<string> TextAsync(string path) => await _http.GetStringAsync(new Uri(Url, path));

    public async Task<string> StageAsync(string space) => (await GetAsync($"api/spaces/alice/{space}/runtime")).GetProperty("stage").GetString()!;

    /// <summary>Polls until <paramref name="ok"/> (every 50 ms), or fails after <paramref name="seconds"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> ok, double seconds, Func<string> why)
    {
        var sw = Stopwatch.StartNew();
        while (!await ok())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"not within {seconds} s: {why()}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await _store.DisposeAsync();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>A TCP forwarder to the core that the test can cut (a network partition) and heal.</summary>
internal sealed class Partition : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly List<TcpClient> _open = [];
    private volatile bool _cut;
    private readonly CancellationTokenSource _stop = new();

    public Partition(Uri target)
    {
        _target = target.Port;
        _listener.Start();
        _ = AcceptAsync();
    }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try { inbound = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            if (_cut) { inbound.Dispose(); continue; }
            var outbound = new TcpClient();
            try { await outbound.ConnectAsync(IPAddress.Loopback, _target); }
            catch (SocketException) { inbound.Dispose(); outbound.Dispose(); continue; }
            lock (_open) { _open.Add(inbound); _open.Add(outbound); }
            _ = Pump(inbound, outbound);
            _ = Pump(outbound, inbound);
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try { await from.GetStream().CopyToAsync(to.GetStream()); }
        catch (Exception) { }
        from.Dispose();
        to.Dispose();
    }

    /// <summary>Drops every connection and refuses new ones until <see cref="Heal"/>.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_open) { foreach (var c in _open) c.Dispose(); _open.Clear(); }
    }

    public void Heal() => _cut = false;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
    }
}

/// <summary>
/// `gpurunner exec` as the Space's supervisor, end to end: a real core on loopback, a real `exec` process supervising
/// a small shell app, owner decisions through the real HTTP routes.
/// </summary>
public sealed class SupervisionEndToEndTests
{
    /// <summary>The app: records each start and its pid, says "ready", and exits 0 on SIGTERM.</summary>
    private const string App = "echo $$ > \"$APP_DIR/pid\"; echo start >> \"$APP_DIR/starts\"; trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done";

    private static RunnerProcess Exec(Uri core, string space, string token, string dir, params string[] extra) =>
        new([.. new[] { "exec", "--core", core.ToString(), "--space", space, "--token", token, "--ready-log", "^ready$", "--heartbeat", "1", "--grace", "3" },
             .. extra, "--", "sh", "-c", App],
            new Dictionary<string, string?> { ["GPURUNNER_DATA"] = dir, ["APP_DIR"] = dir });

    private static int Starts(string dir) => File.Exists(Path.Combine(dir, "starts")) ? File.ReadAllLines(Path.Combine(dir, "starts")).Length : 0;
    private static int AppPid(string dir) => int.Parse(File.ReadAllText(Path.Combine(dir, "pid")).Trim());
    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2].Equals("Z");

    private static string RunnerDir(InProcessCore core, string name)
    {
        var dir = Path.Combine(core.Dir, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static double MeteredSeconds(JsonElement ledger) =>
        ledger.EnumerateArray().Sum(r => r.GetProperty("seconds").GetDouble() * r.GetProperty("sign").GetInt32());

    private static int Count(string text, string what) => (text.Length - text.Replace(what, "").Length) / what.Length;

    [Fact]
    public async Task PauseStopsTheAppWithinFiveSecondsRestartStartsItAndDeleteEndsTheRunner()
    {
        await using var core = await InProcessCore.StartAsync();
        var token = await core.CreateSpaceAsync("app");
        var dir = RunnerDir(core, "runner");
        using var runner = Exec(core.Url, "alice/app", token, dir);
        await runner.WaitForOutputAsync("stage RUNNING");
        var pid = AppPid(dir);
        await Task.Delay(1500); // a heartbeat or so

        // Pause: the app gets SIGTERM and is gone within 5 s; the runner stays.
        var sw = Stopwatch.StartNew();
        await core.PostAsync("api/spaces/alice/app/pause");
        await InProcessCore.UntilAsync(() => Task.FromResult(!Alive(pid)), 5, () => runner.StdErr);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"{sw.Elapsed}");
        Assert.Contains("got-term", runner.StdOut);
        await runner.WaitForOutputAsync("the Space is paused");
        var rt = await core.GetAsync("api/spaces/alice/app/runtime");
        Assert.Equal(("PAUSED", JsonValueKind.Null), (rt.GetProperty("stage").GetString(), rt.GetProperty("errorMessage").ValueKind));
        // Billing closed at the pause's instant, not when the runner noticed.
        var ledger = await core.GetAsync("api/usage/spaces/alice/app/ledger");
        Assert.Equal(DateTimeOffset.Parse(rt.GetProperty("stageSince").GetString()!),
            DateTimeOffset.Parse(Assert.Single(ledger.EnumerateArray()).GetProperty("end").GetString()!));
        await runner.WaitForOutputAsync("stage STOPPED: stopped by the core (paused");
        await Task.Delay(1500);
        Assert.False(runner.HasExited); // PID 1 stays up, waiting
        Assert.Equal(1, Starts(dir));
        Assert.Equal(MeteredSeconds(ledger), MeteredSeconds(await core.GetAsync("api/usage/spaces/alice/app/ledger"))); // no heartbeat bills

        // Restart: the app starts again as a new run, RUNNING, billed.
        await core.PostAsync("api/spaces/alice/app/restart");
        await InProcessCore.UntilAsync(async () => Starts(dir) == 2 && await core.StageAsync("app") == "RUNNING", 15, () => runner.StdErr);
        var second = (await core.GetAsync("api/spaces/alice/app/runtime")).GetProperty("runId").GetString();
        Assert.NotNull(second);
        await InProcessCore.UntilAsync(async () => (await core.GetAsync("api/spaces/alice/app/runtime")).GetProperty("billing").GetProperty("billing").GetBoolean(), 5, () => runner.StdErr);

        // Delete: the app is stopped and the runner exits with its documented code.
        pid = AppPid(dir);
        sw.Restart();
        await core.DeleteSpaceAsync("app");
        Assert.Equal(ExecRunner.DeletedCode, await runner.WaitForExitAsync());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), $"{sw.Elapsed}");
        Assert.False(Alive(pid));
        Assert.Contains("nothing will run here again", runner.StdErr);
    }

    [Fact]
    public async Task SleepAfterTheSleepTimeStopsTheAppAndAVisitWakesIt()
    {
        await using var core = await InProcessCore.StartAsync();
        var token = await core.CreateSpaceAsync("sleepy");
        await core.PostAsync("api/spaces/alice/sleepy/sleeptime", new { seconds = 2 });
        var dir = RunnerDir(core, "runner");
        using var runner = Exec(core.Url, "alice/sleepy", token, dir);
        await runner.WaitForOutputAsync("stage RUNNING");
        var pid = AppPid(dir);
        await runner.WaitForOutputAsync("the Space is asleep", 15_000);
        Assert.False(Alive(pid));
        Assert.Equal("STOPPED", await core.StageAsync("sleepy"));
        Assert.Contains("stopped by the core (sleeping", runner.StdErr);

        await core.PostAsync("api/spaces/alice/sleepy/visit");
        await InProcessCore.UntilAsync(() => Task.FromResult(Starts(dir) == 2 && Count(runner.StdErr, "stage RUNNING") == 2), 15, () => runner.StdErr);
        Assert.False(runner.HasExited);
    }

    [Fact]
    public async Task AContainerRestartAfterAStopRunsAndIsBilled()
    {
        await using var core = await InProcessCore.StartAsync();
        var token = await core.CreateSpaceAsync("again");
        var dir = RunnerDir(core, "runner");
        for (var i = 0; i < 2; i++)
        {
            using var runner = new RunnerProcess(["exec", "--core", core.Url.ToString(), "--space", "alice/again", "--token", token,
                "--ready-log", "^ready$", "--", "sh", "-c", "echo ready; sleep 1"], new Dictionary<string, string?> { ["GPURUNNER_DATA"] = dir });
            Assert.Equal(0, await runner.WaitForExitAsync());
            Assert.Contains("all delivered", runner.StdErr); // nothing held
            Assert.Equal("STOPPED", await core.StageAsync("again"));
        }
        var ledger = await core.GetAsync("api/usage/spaces/alice/again/ledger");
        Assert.Equal(2, ledger.EnumerateArray().Count(r => r.GetProperty("sign").GetInt32() == 1)); // both runs billed
        Assert.InRange(MeteredSeconds(ledger), 1.5, 4);
    }

    [Fact]
    public async Task APartitionLongerThanTheLeaseBillsWhatIsProvenAndDoesNotPause()
    {
        await using var core = await InProcessCore.StartAsync(p => p with { HeartbeatLease = TimeSpan.FromSeconds(3) });
        var token = await core.CreateSpaceAsync("cut");
        using var net = new Partition(core.Url);
        var dir = RunnerDir(core, "runner");
        using var runner = Exec(net.Url, "alice/cut", token, dir);
        await runner.WaitForOutputAsync("stage RUNNING");
        var ranFrom = Stopwatch.StartNew();
        var pid = AppPid(dir);
        await Task.Delay(1500);

        net.Cut();
        // The core hears nothing for longer than the lease: it concludes the run failed and auto-pauses the Space.
        await InProcessCore.UntilAsync(async () => await core.StageAsync("cut") == "PAUSED", 15, () => runner.StdErr);
        await Task.Delay(1000);
        Assert.True(Alive(pid)); // the app goes on; the runner cannot hear the pause

        net.Heal();
        // The backlog proves the app ran through the gap: RUNNING again, no auto-pause, and the app was never stopped.
        await InProcessCore.UntilAsync(async () => await core.StageAsync("cut") == "RUNNING", 30, () => runner.StdErr);
        await Task.Delay(2500); // the runner's own look at the decision after its backlog went through
        Assert.True(Alive(pid), runner.StdErr);
        Assert.DoesNotContain("stopping the app", runner.StdErr);
        var rt = await core.GetAsync("api/spaces/alice/cut/runtime");
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("errorMessage").ValueKind);

        // The proven time is billed: from RUNNING to the stop, with no gap where the core had concluded a failure.
        Posix.Kill(runner.Pid, Posix.SIGTERM);
        Assert.Equal(0, await runner.WaitForExitAsync());
        var ran = ranFrom.Elapsed.TotalSeconds;
        await InProcessCore.UntilAsync(async () => await core.StageAsync("cut") == "STOPPED", 10, () => runner.StdErr);
        var metered = MeteredSeconds(await core.GetAsync("api/usage/spaces/alice/cut/ledger"));
        Assert.True(Math.Abs(metered - ran) < 1.5, $"metered {metered} s, ran {ran} s\n{runner.StdErr}");
    }

    [Fact]
    public async Task AHardwareChangeSaysRescheduleOnceAndBillsTheOldRunAtTheOldFlavorUntilItStops()
    {
        await using var core = await InProcessCore.StartAsync();
        var token = await core.CreateSpaceAsync("move", "t4-small");
        var dir = RunnerDir(core, "runner");
        using var runner = Exec(core.Url, "alice/move", token, dir, "--exit-when-stopped");
        await runner.WaitForOutputAsync("stage RUNNING");
        var pid = AppPid(dir);
        await Task.Delay(1000);
        var before = (await core.GetAsync("api/spaces/alice/move/runtime")).GetProperty("billing");
        Assert.True(before.GetProperty("billing").GetBoolean());
        await core.PostAsync("api/spaces/alice/move/hardware", new { flavor = "a10g-small" });
        Assert.Equal(ExecRunner.RescheduleCode, await runner.WaitForExitAsync());
        Assert.False(Alive(pid));
        Assert.Equal(1, Count(runner.StdErr, "the Space's hardware was changed to a10g-small: this container must be rescheduled"));
        // The old run was billed at the old flavor until its STOPPED; the Space now waits for a run on the new hardware.
        Assert.Equal("BUILDING", await core.StageAsync("move"));
        var row = Assert.Single((await core.GetAsync("api/usage/spaces/alice/move/ledger")).EnumerateArray());
        // (Priced as the old request by the mismatch rule against the hardware this machine reported; never as the new.)
        Assert.Equal("t4-small", row.GetProperty("requestedFlavor").GetString());
        Assert.NotEqual("a10g-small", row.GetProperty("billedFlavor").GetString());
        var stoppedAt = DateTimeOffset.Parse((await core.GetAsync("api/spaces/alice/move/runtime")).GetProperty("stageSince").GetString()!);
        Assert.Equal(stoppedAt, DateTimeOffset.Parse(row.GetProperty("end").GetString()!)); // BUILDING since the old run's stop
    }

    [Fact]
    public async Task ARunnerOnAPausedSpaceWaitsAndOnADeletedOneExits()
    {
        await using var core = await InProcessCore.StartAsync();
        var token = await core.CreateSpaceAsync("held");
        await core.PostAsync("api/spaces/alice/held/pause");
        var dir = RunnerDir(core, "runner");
        using (var runner = Exec(core.Url, "alice/held", token, dir))
        {
            await runner.WaitForOutputAsync("the Space is paused");
            await Task.Delay(500);
            Assert.Equal(0, Starts(dir)); // the app is not started
            Assert.Equal(JsonValueKind.Null, (await core.GetAsync("api/spaces/alice/held/runtime")).GetProperty("runId").ValueKind); // no run registered
            Posix.Kill(runner.Pid, Posix.SIGTERM);
            Assert.Equal(0, await runner.WaitForExitAsync(15_000));
        }
        // --exit-when-stopped: exits at once with its code instead of waiting.
        using (var runner = Exec(core.Url, "alice/held", token, dir, "--exit-when-stopped"))
            Assert.Equal(ExecRunner.StoppedByCoreCode, await runner.WaitForExitAsync());

        await core.DeleteSpaceAsync("held");
        using (var runner = Exec(core.Url, "alice/held", token, dir))
        {
            Assert.Equal(ExecRunner.DeletedCode, await runner.WaitForExitAsync());
            Assert.Contains("nothing will run here again", runner.StdErr);
            Assert.Equal(0, Starts(dir));
        }
    }

    [Fact]
    public async Task AHeldEventIsReportedAsHeldThenDeadLetteredAndShown()
    {
        await using var core = await InProcessCore.StartAsync(p => p with { HoldWindow = TimeSpan.FromSeconds(2) });
        var token = await core.CreateSpaceAsync("late");
        await core.PostAsync("api/spaces/alice/late/pause");
        var dir = RunnerDir(core, "runner");
        // `report` registers a run of its own: on a paused Space the core holds it.
        using (var report = new RunnerProcess(["report", "--core", core.Url.ToString(), "--space", "alice/late", "--token", token],
                   new Dictionary<string, string?> { ["GPURUNNER_DATA"] = dir }))
        {
            await report.WaitForExitAsync();
            Assert.DoesNotContain("all delivered", report.StdErr);
            Assert.True(report.StdErr.Contains("the core holds 2 of them") && report.StdErr.Contains("is PAUSED"), report.StdErr + report.StdOut);
            Assert.Contains("report: the core holds run", report.StdOut);
        }
        await InProcessCore.UntilAsync(async () => (await core.GetAsync("api/runner/spaces/alice/late/held")).GetProperty("deadLetters").GetArrayLength() == 2,
            15, () => "no dead letter");
        using (var report = new RunnerProcess(["report", "--core", core.Url.ToString(), "--space", "alice/late", "--token", token, "--json"],
                   new Dictionary<string, string?> { ["GPURUNNER_DATA"] = dir }))
        {
            await report.WaitForExitAsync();
            using var json = JsonDocument.Parse(report.StdOut);
            var dead = json.RootElement.GetProperty("coreDeadLetters").EnumerateArray().ToArray();
            Assert.Contains(dead, d => d.GetProperty("kind").GetString() == "run" && d.GetProperty("reason").GetString()!.Contains("PAUSED"));
        }
        Assert.Contains("gpurunner_space_dead_letters{space=\"alice/late\"}", await core.TextAsync("metrics"));
    }
}
