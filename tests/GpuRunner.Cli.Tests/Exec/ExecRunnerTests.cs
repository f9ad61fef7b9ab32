using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Client;

namespace GpuRunner.Cli.Tests.Exec;

internal sealed class FakeReporter(string verdict) : IDeviceReporter
{
    public Task<DeviceReport?> RunAsync(CancellationToken ct) => Task.FromResult<DeviceReport?>(new DeviceReport(
        JsonDocument.Parse($$"""{"schema":"gpurunner.report/1","tier":{"flavor":null,"summary":"test"},"verdict":"{{verdict}}"}""").RootElement,
        verdict, [$"verify: {verdict} (test block)"]));
}

internal sealed class FakeSampler : IHeartbeatSampler
{
    public int Samples;
    public IReadOnlyList<GpuHeartbeat> Sample()
    {
        Interlocked.Increment(ref Samples);
        return [new GpuHeartbeat(0, 87.5, 40960, 61, 312.4)];
    }
}

/// <summary>A whole `exec` run in-process, with a real child (`sh -c`) and a stand-in core behind the real outbox.</summary>
internal sealed class ExecHarness : IAsyncDisposable
{
    public readonly string Dir = Path.Combine(Path.GetTempPath(), "gpurunner-exec-" + Guid.NewGuid().ToString("N"));
    public readonly StringWriter Out = new(), Err = new();
    public readonly DedupingSink Core = new();
    public readonly Outbox Outbox;
    public readonly EventRecorder Events;
    public readonly ExecIO IO;

    public ExecHarness()
    {
        Outbox = Outbox.Open(Dir, "http://core|ns/app");
        IO = new ExecIO(new TextWriterStream(Out), new TextWriterStream(Err), new RunnerLog(Err), StdinIsTerminal: false);
        Events = EventRecorder.ForCore(Outbox, Core.Send, IO.Log, new BackoffPolicy(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(50)));
    }

    public static ExecOptions Sh(string script, ReadinessMode mode = ReadinessMode.Log, string? readyLog = "ready",
        double heartbeatSeconds = 30, double graceSeconds = 7) =>
        new(["sh", "-c", script], Readiness: mode, ReadyPort: 7860, ReadyLogPattern: readyLog,
            Heartbeat: TimeSpan.FromSeconds(heartbeatSeconds), Grace: TimeSpan.FromSeconds(graceSeconds));

    public Task<int> RunAsync(ExecOptions options, IDeviceReporter? reporter = null, IHeartbeatSampler? sampler = null) =>
        new ExecRunner(options, IO, Events, reporter ?? new FakeReporter("PASS"), sampler ?? new FakeSampler()).RunAsync();

    public string StdErr { get { lock (IO.Log.Gate) return Err.ToString(); } }
    public string StdOut { get { lock (IO.Log.Gate) return Out.ToString(); } }

    public async ValueTask DisposeAsync()
    {
        await Events.DisposeAsync();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

public sealed class ExecRunnerTests
{
    [Fact]
    public async Task AppOutputPassesThroughByteForByteAndRunnerLinesArePrefixed()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("printf 'a\\n  b\\r\\n\\tc'; echo 'to stderr' >&2; printf 'ünïcödé\\n'"));

        Assert.Equal(0, code);
        Assert.Equal("a\n  b\r\n\tcünïcödé\n", h.StdOut);
        var err = h.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("to stderr", err);
        // Everything on stderr that is not the app's own line is the runner's, and carries the prefix.
        Assert.All(err.Where(l => l != "to stderr"), l => Assert.StartsWith(RunnerLog.Prefix, l));
        Assert.Contains(err, l => l.Contains("verify: PASS (test block)"));
    }

    [Fact]
    public async Task CleanExitReportsTheStageSequenceAndStopped()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("echo ready; sleep 0.3"));

        Assert.Equal(0, code);
        Assert.Equal(["APP_STARTING", "RUNNING", "STOPPED"], h.Core.Stages());
        Assert.Equal([RunnerRoute.Runs, RunnerRoute.Device], h.Core.Events.Take(2).Select(e => e.Route));
        var exit = Assert.Single(h.Core.Of(RunnerRoute.Exit));
        Assert.Equal(0, exit.GetProperty("exitCode").GetInt32());
        // One run id on every event; every event id distinct.
        Assert.Single(h.Core.Events.Select(e => e.Body.GetProperty("runId").GetString()).Distinct());
        Assert.Equal(h.Core.Events.Count, h.Core.Applied.Distinct().Count());
        Assert.Equal(0, h.Outbox.PendingCount());
    }

    [Fact]
    public async Task NonZeroExitIsARuntimeErrorWithTheStderrTailAndTheSameCode()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("echo ready; echo 'Traceback: boom' >&2; exit 42"));

        Assert.Equal(42, code);
        Assert.Equal(["APP_STARTING", "RUNNING", "RUNTIME_ERROR"], h.Core.Stages());
        var stage = h.Core.Of(RunnerRoute.Stage).Last();
        Assert.Contains("exited with code 42", stage.GetProperty("message").GetString());
        var exit = Assert.Single(h.Core.Of(RunnerRoute.Exit));
        Assert.Equal(42, exit.GetProperty("exitCode").GetInt32());
        Assert.Contains("Traceback: boom", exit.GetProperty("stderrTail").GetString());
    }

    [Fact]
    public async Task ACrashBySignalIs128PlusTheSignal()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("echo ready; sleep 0.2; kill -SEGV $$"));

        Assert.Equal(128 + 11, code);
        Assert.Equal("RUNTIME_ERROR", h.Core.Stages().Last());
        Assert.Equal("SIGSEGV", Assert.Single(h.Core.Of(RunnerRoute.Exit)).GetProperty("signal").GetString());
    }

    [Fact]
    public async Task AnAppThatExitsBeforeItIsReadyNeverReportsRunning()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("exit 3", readyLog: "never printed"));
        Assert.Equal(3, code);
        Assert.Equal(["APP_STARTING", "RUNTIME_ERROR"], h.Core.Stages());
    }

    [Fact]
    public async Task AMissingCommandIs127AndReported()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(new ExecOptions(["gpurunner-no-such-program"]));
        Assert.Equal(127, code);
        Assert.Equal(["RUNTIME_ERROR"], h.Core.Stages());
        Assert.Contains("cannot start 'gpurunner-no-such-program': No such file or directory", h.StdErr);
        Assert.Equal(127, Assert.Single(h.Core.Of(RunnerRoute.Exit)).GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public async Task RequireStopsTheStartWhenVerifyFails()
    {
        await using var h = new ExecHarness();
        var marker = Path.Combine(h.Dir, "started");
        var code = await h.RunAsync(ExecHarness.Sh($"touch '{marker}'") with { Require = true }, new FakeReporter("FAIL"));

        Assert.Equal(1, code);
        Assert.False(File.Exists(marker), "the app must not start");
        Assert.Empty(h.Core.Stages());
        Assert.Single(h.Core.Of(RunnerRoute.Device));
        Assert.Equal(1, Assert.Single(h.Core.Of(RunnerRoute.Exit)).GetProperty("exitCode").GetInt32());
        Assert.Contains("--require", h.StdErr);
    }

    [Fact]
    public async Task WithoutRequireAFailedVerifyOnlyWarns()
    {
        await using var h = new ExecHarness();
        var code = await h.RunAsync(ExecHarness.Sh("echo ready"), new FakeReporter("FAIL"));
        Assert.Equal(0, code);
        Assert.Contains("starting the app anyway", h.StdErr);
        Assert.Contains("RUNNING", h.Core.Stages());
    }

    [Fact]
    public async Task HeartbeatsCarryTheSamplersReadingsWhileTheAppRuns()
    {
        await using var h = new ExecHarness();
        var options = ExecHarness.Sh("echo ready; sleep 1.2") with { Heartbeat = TimeSpan.FromMilliseconds(200) };
        var code = await h.RunAsync(options);

        Assert.Equal(0, code);
        var beats = h.Core.Of(RunnerRoute.Heartbeat);
        Assert.InRange(beats.Count, 3, 8);
        var gpu = beats[0].GetProperty("gpus")[0];
        Assert.Equal((0, 87.5, 40960, 61.0, 312.4), (gpu.GetProperty("index").GetInt32(), gpu.GetProperty("utilizationPct").GetDouble(),
            gpu.GetProperty("memoryUsedMiB").GetInt64(), gpu.GetProperty("temperatureC").GetDouble(), gpu.GetProperty("powerW").GetDouble()));
        // None after the exit event.
        var exitIndex = h.Core.Events.FindIndex(e => e.Route == RunnerRoute.Exit);
        Assert.DoesNotContain(h.Core.Events.Skip(exitIndex), e => e.Route == RunnerRoute.Heartbeat);
    }

    [Fact]
    public async Task TheAppRunsOnAndExitsWithItsCodeWhenTheCoreIsDown()
    {
        await using var h = new ExecHarness();
        h.Core.Fail = (_, _) => new RunnerApiException("POST stage: cannot reach http://core: Connection refused", null);
        var options = ExecHarness.Sh("echo ready; echo app-output; exit 5") with { FlushBudget = TimeSpan.FromMilliseconds(300) };
        var code = await h.RunAsync(options);

        Assert.Equal(5, code);
        Assert.Contains("app-output", h.StdOut);
        Assert.Contains("app keeps running", h.StdErr);
        Assert.Contains("not delivered yet", h.StdErr);
        Assert.True(h.Outbox.PendingCount() >= 5); // runs, device, APP_STARTING, RUNNING, RUNTIME_ERROR, exit: kept for later
        Assert.Empty(h.Core.Applied);
    }
}
