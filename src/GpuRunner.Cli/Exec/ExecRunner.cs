using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>How the app's readiness is detected.</summary>
public enum ReadinessMode { Port, Http, Log }

public sealed record ExecOptions(
    IReadOnlyList<string> Command,
    bool Require = false,
    ReadinessMode Readiness = ReadinessMode.Port,
    int ReadyPort = 7860,
    string? ReadyHttpPath = null,
    string? ReadyLogPattern = null,
    TimeSpan? Heartbeat = null,
    TimeSpan? Grace = null,
    TimeSpan? FlushBudget = null,
    TimeSpan? StopFlushBudget = null,
    bool ExitWhenStopped = false,
    SmokePolicy Smoke = SmokePolicy.Changed,
    bool GpuWatch = true,
    TimeSpan? GpuPoll = null)
{
    public static readonly TimeSpan DefaultHeartbeat = TimeSpan.FromSeconds(30);
    /// <summary>Under Docker's default 10 s stop timeout, leaving time for the final events.</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(7);
    /// <summary>How long the final events may take when the app ended by itself: nobody is waiting to kill us.</summary>
    public static readonly TimeSpan DefaultFlushBudget = TimeSpan.FromSeconds(15);
    /// <summary>After a forwarded stop signal: grace (7 s) + this stays under Docker's 10 s before its SIGKILL.</summary>
    public static readonly TimeSpan DefaultStopFlushBudget = TimeSpan.FromSeconds(2.5);
}

/// <summary>Where the app's output goes (our own stdout/stderr in production) and where the runner's lines go.</summary>
public sealed record ExecIO(Stream Out, Stream Err, RunnerLog Log, bool StdinIsTerminal);

/// <summary>
/// The whole `gpurunner exec` run: checks, device report, start, readiness, heartbeats, exit, final flush; and, with
/// a core, the Space's supervisor (docs/supervision.md): it stops the app when the core pauses the Space, puts it to
/// sleep, restarts or deletes it, waits (the container's PID 1 stays up, without heartbeats) and starts the app again
/// as a new run when the Space is restarted or woken. Returns the app's exit code (128+N when a signal N ended it),
/// or one of the codes below.
/// </summary>
public sealed class ExecRunner(ExecOptions options, ExecIO io, EventRecorder events, IDeviceReporter reporter,
    IHeartbeatSampler sampler, IDesiredSource? desired = null, SmokeOnStart? smoke = null, GpuWatch? watch = null)
{
    /// <summary>Code when --require is set and verify FAILed (the app never started).</summary>
    public const int VerifyFailedCode = 1;
    /// <summary>With --exit-when-stopped: the core paused the Space or put it to sleep; the app was stopped.</summary>
    public const int StoppedByCoreCode = 75;
    /// <summary>With --exit-when-stopped: other hardware was requested; the container must be rescheduled on it.</summary>
    public const int RescheduleCode = 76;
    /// <summary>The Space was deleted: the app was stopped (or never started); nothing will run here again.</summary>
    public const int DeletedCode = 77;

    private readonly RunnerLog _log = io.Log;
    private readonly TailBuffer _stderrTail = new();
    private readonly object _stageGate = new();
    private bool _exited;
    /// <summary>The core's decision that stopped the current run (null: it ended by itself or by a signal).</summary>
    private RunnerDesired? _decision;

    public async Task<int> RunAsync()
    {
        // 0. A runner on a paused or sleeping Space waits before it registers a run; on a deleted one it exits.
        if (desired is not null)
        {
            using var ask = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            RunnerDesired? now = null;
            try { now = await desired.CurrentAsync(null, ask.Token); }
            catch (OperationCanceledException) { } // the core is slow: the app runs, the watcher asks again
            if (now is { Desired: DesiredStates.Deleted }) return await DeletedAsync(now);
            if (now is { Desired: DesiredStates.Paused or DesiredStates.Sleeping })
            {
                if (options.ExitWhenStopped) return await StoppedByCoreAsync(now);
                var next = await WaitForStartAsync(now);
                if (next is null) return 0;
                if (next.Desired == DesiredStates.Deleted) return await DeletedAsync(next);
            }
        }
        events.RunStarted(Environment.MachineName);

        // 1. Verify the environment before anything starts.
        VerifyOutcome? report = null;
        try { report = await reporter.RunAsync(CancellationToken.None); }
        catch (Exception e) { _log.Line($"verify could not run: {e.Message}"); } // never block the app on our own bug
        if (report is null)
        {
            if (reporter is UnavailableDeviceReporter u) _log.Line($"device checks skipped: {u.Reason}");
        }
        else
        {
            foreach (var line in report.Block) _log.Line(line);
            events.Device(report.Json);
            if (report.Failed && options.Require)
            {
                _log.Line("verify FAILED and --require is set: not starting the app (exit 1)");
                events.Exit(VerifyFailedCode, null, "gpurunner: verify FAILED; the app was not started (--require)");
                await events.FlushAsync(options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
                return VerifyFailedCode;
            }
            if (report.Failed) _log.Line("verify FAILED: starting the app anyway (use --require to refuse)");
        }

        // 1b. Smoke-test hardware not proven before (SmokeOnStart), in APP_STARTING so it is not billed.
        if (smoke is not null && !await smoke.RunAsync(events, options.Require))
        {
            events.Exit(VerifyFailedCode, null, "gpurunner: hardware smoke test FAILED; the app was not started (--require)");
            await events.FlushAsync(options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
            return VerifyFailedCode;
        }

        // 2. Run the app; again as a new run each time the core restarts or wakes the Space.
        while (true)
        {
            var code = await RunAppAsync();
            if (code is not null) return code.Value;
            var d = _decision!;
            if (d.Desired == DesiredStates.Deleted) return await DeletedAsync(d);
            if (d.Desired == DesiredStates.Reschedule)
            {
                _log.Line($"exiting (code {RescheduleCode}, --exit-when-stopped) so that the container is rescheduled on {d.Flavor}");
                await events.FlushAsync(options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
                return RescheduleCode;
            }
            if (d.Desired != DesiredStates.Restart)
            {
                if (options.ExitWhenStopped) return await StoppedByCoreAsync(d);
                var next = await WaitForStartAsync(d);
                if (next is null) return 0;
                if (next.Desired == DesiredStates.Deleted) return await DeletedAsync(next);
            }
            events.NewRun();
            events.RunStarted(Environment.MachineName);
            if (report is not null) events.Device(report.Json);
        }
    }

    /// <summary>One run of the app. Null when the core's decision stopped it (<see cref="_decision"/>); else the code
    /// to exit with (the app ended by itself or by a stop signal, and the events are flushed).</summary>
    private async Task<int?> RunAppAsync()
    {
        lock (_stageGate) { _exited = false; _exitedAt = null; _decision = null; }
        var probe = CreateProbe(out var logProbe);
        ChildProcess child;
        var launchedAt = DateTimeOffset.UtcNow;
        try
        {
            child = ChildProcess.Start(options.Command, io.Out, io.Err, _log.Gate,
                onStdoutLine: line => logProbe?.Observe(line),
                onStderrLine: line => { _stderrTail.Add(line); logProbe?.Observe(line); });
        }
        catch (ChildStartException e)
        {
            _log.Line($"{e.Message} (exit {e.ExitCode})");
            events.Stage(RunnerStages.RuntimeError, e.Message);
            events.Exit(e.ExitCode, null, e.Message);
            await events.FlushAsync(options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
            return e.ExitCode;
        }

        var stopRequested = false;
        using (child)
        using (var forwarder = new SignalForwarder(child, _log, options.Grace ?? ExecOptions.DefaultGrace, io.StdinIsTerminal).Install())
        {
            _log.Line($"started {Describe(options.Command)} (pid {child.Pid}); RUNNING once {probe.Description}");
            watch?.Start();
            events.Stage(RunnerStages.AppStarting, at: launchedAt);

            using var stopWatching = new CancellationTokenSource();
            var readiness = WatchReadinessAsync(probe, stopWatching.Token);
            var heartbeats = HeartbeatAsync(stopWatching.Token);
            var decisions = WatchDecisionsAsync(forwarder, stopWatching.Token);

            var exitCode = await child.WaitAsync();
            lock (_stageGate)
            {
                _exited = true;
                _exitedAt = child.ExitedAt;
            }
            await stopWatching.CancelAsync();
            await Task.WhenAll(readiness, heartbeats, decisions);

            ReportExit(exitCode, forwarder);
            stopRequested = forwarder.StopSignal is not null;
            // Stopped by the core's decision (and not also by the platform): the runner stays, the events go on
            // being sent in the background.
            if (_decision is not null && !stopRequested) return null;
        }
        await events.FlushAsync(stopRequested
            ? options.StopFlushBudget ?? ExecOptions.DefaultStopFlushBudget
            : options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
        return _exitCode;
    }

    private int _exitCode;
    private DateTimeOffset? _exitedAt;

    private void ReportExit(int exitCode, SignalForwarder forwarder)
    {
        _exitCode = exitCode;
        var signal = Posix.SignalOf(exitCode);
        var signalName = signal is { } s ? Posix.Name(s) : null;
        // A stop the platform asked for (SIGTERM from `docker stop`, a Ctrl-C) is not a failure of the app, however it
        // ended (its own exit, the signal itself, or SIGKILL after the grace period): report STOPPED, not
        // RUNTIME_ERROR, so the core does not pause the Space for having been stopped.
        var how = signalName is not null ? $"ended by {signalName} (exit {exitCode})" : $"exited with code {exitCode}";
        if (_decision is { } d && forwarder.StopSignal is null)
        {
            // Recorded as what it was (paused, asleep, restarted, deleted), never as a crash.
            var killed = forwarder.Killed ? $" after the {(options.Grace ?? ExecOptions.DefaultGrace).TotalSeconds:0.#} s grace period" : "";
            events.Stage(RunnerStages.Stopped, $"stopped by the core ({d.Desired}: {d.Reason}): {how}{killed}", _exitedAt);
        }
        else if (forwarder.StopSignal is { } stop)
        {
            var killed = forwarder.Killed ? $" after the {(options.Grace ?? ExecOptions.DefaultGrace).TotalSeconds:0.#} s grace period" : "";
            events.Stage(RunnerStages.Stopped, $"stopped on {Posix.Name(stop)}: {how}{killed}", _exitedAt);
        }
        else if (exitCode == 0)
        {
            events.Stage(RunnerStages.Stopped, how, _exitedAt);
        }
        else
        {
            var tail = _stderrTail.Text();
            // A GPU fault seen while the app ran is named first: it, not the stderr tail, says whose fault it was.
            var cause = watch?.CauseOfCrash(TimeSpan.FromSeconds(3)); // one poll; generous for a loaded machine
            var message = tail is null ? how : $"{how}\n{tail}";
            events.Stage(RunnerStages.RuntimeError, cause is null ? message : $"{cause}\n{message}", _exitedAt);
        }
        events.Exit(exitCode, signalName, exitCode == 0 ? null : _stderrTail.Text(), _exitedAt);
    }

    /// <summary>
    /// Follows the core's decision for this run while the app runs (a long poll). A stop (paused, asleep, restart,
    /// deleted) is acted on once everything this runner recorded has been delivered and the core still says so: a
    /// pause the core concluded from silence during an outage is undone by the backlog (README "Trust model").
    /// A hardware change is said once; with --exit-when-stopped it stops the app too.
    /// </summary>
    private async Task WatchDecisionsAsync(SignalForwarder forwarder, CancellationToken ct)
    {
        if (desired is null) return;
        var known = DesiredStates.Running;
        try
        {
            while (true)
            {
                var d = await desired.ChangeAsync(events.RunId, known, ct);
                if (d.Desired == DesiredStates.Paused)
                {
                    // A pause may be the core's conclusion from this runner's silence (lost heartbeats during an
                    // outage), which the backlog undoes: deliver it first, then ask again.
                    await events.WaitDeliveredAsync(TimeSpan.FromSeconds(30), ct);
                    d = await desired.CurrentAsync(events.RunId, ct) ?? d;
                }
                known = d.Desired;
                if (d.Desired == DesiredStates.Reschedule)
                {
                    _log.Line($"the Space's hardware was changed to {d.Flavor}: this container must be rescheduled on it; " +
                              (options.ExitWhenStopped ? "stopping the app (--exit-when-stopped)" : "the app keeps serving here, billed as the old hardware, until it stops"));
                    if (!options.ExitWhenStopped) continue;
                }
                else if (!DesiredStates.Stops(d.Desired)) continue;
                lock (_stageGate)
                {
                    if (_exited) return;
                    _decision = d;
                }
                forwarder.StopFor(d.Desired switch
                {
                    DesiredStates.Paused => $"the Space was paused ({d.Reason})",
                    DesiredStates.Sleeping => "the Space went to sleep",
                    DesiredStates.Restart => "the Space was restarted by its owner",
                    DesiredStates.Deleted => "the Space was deleted",
                    _ => $"the Space's hardware was changed to {d.Flavor}",
                });
                return;
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Paused or asleep: no app, no run, no heartbeat; waits for the restart or the visit (or a stop signal:
    /// null). Returns the decision that ended the wait.</summary>
    private async Task<RunnerDesired?> WaitForStartAsync(RunnerDesired d)
    {
        using var signals = new StopSignals();
        while (true)
        {
            _log.Line(d.Desired == DesiredStates.Paused
                ? $"the Space is paused ({d.Reason}): the app stays stopped until its owner restarts it (no heartbeats meanwhile)"
                : "the Space is asleep: the app stays stopped until a visit wakes it (no heartbeats meanwhile)");
            try { d = await desired!.ChangeAsync(null, d.Desired, signals.Token); }
            catch (OperationCanceledException)
            {
                _log.Line($"received {Posix.Name(signals.Signal)} while waiting: exiting (the app was not running)");
                await events.FlushAsync(options.StopFlushBudget ?? ExecOptions.DefaultStopFlushBudget);
                return null;
            }
            if (d.Desired is not (DesiredStates.Paused or DesiredStates.Sleeping)) return d;
        }
    }

    private async Task<int> DeletedAsync(RunnerDesired d)
    {
        _log.Line($"the Space {d.Reason switch { { Length: > 0 } r => $"is gone ({r})", _ => "was deleted" }}: nothing will run here again; exiting (code {DeletedCode})");
        await events.AbandonAsync("the Space was deleted"); // nothing accepts its events any more
        return DeletedCode;
    }

    private async Task<int> StoppedByCoreAsync(RunnerDesired d)
    {
        _log.Line($"the Space is {(d.Desired == DesiredStates.Paused ? "paused" : "asleep")} and --exit-when-stopped is set: exiting (code {StoppedByCoreCode})");
        await events.FlushAsync(options.FlushBudget ?? ExecOptions.DefaultFlushBudget);
        return StoppedByCoreCode;
    }

    private IReadinessProbe CreateProbe(out LogLineProbe? logProbe)
    {
        logProbe = null;
        switch (options.Readiness)
        {
            case ReadinessMode.Http:
                return new HttpProbe(options.ReadyPort, options.ReadyHttpPath ?? "/");
            case ReadinessMode.Log:
                logProbe = new LogLineProbe(LogLineProbe.Compile(options.ReadyLogPattern!));
                return logProbe;
            default:
                return new TcpPortProbe(options.ReadyPort);
        }
    }

    private async Task WatchReadinessAsync(IReadinessProbe probe, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var wait = probe.WaitAsync(ct);
        // Say once if readiness is slow: a wrong --ready-port otherwise looks like a Space that never bills.
        var nag = Task.Delay(TimeSpan.FromSeconds(60), ct);
        if (await Task.WhenAny(wait, nag) == nag && !ct.IsCancellationRequested)
            _log.Line($"the app is not ready yet after {(DateTimeOffset.UtcNow - started).TotalSeconds:0} s (waiting until {probe.Description}); it stays APP_STARTING");
        DateTimeOffset readyAt;
        try { readyAt = await wait; }
        catch (OperationCanceledException)
        {
            if (probe.ReadyAt is not { } seen) return;
            readyAt = seen; // seen just before the exit cancelled the wait
        }
        lock (_stageGate)
        {
            // Seen ready before it exited (a quick job): RUNNING still happened. A line drained after the exit: no.
            if (_exited && readyAt > _exitedAt) return;
            // `at` is when readiness was seen, not when this line ran: billing starts at that instant.
            events.Stage(RunnerStages.Running, $"ready: {probe.Description} after {(readyAt - started).TotalSeconds:0.0} s", readyAt);
        }
    }

    private async Task HeartbeatAsync(CancellationToken ct)
    {
        if (!events.Reporting) return; // nobody to tell; don't touch NVML for nothing
        using var timer = new PeriodicTimer(options.Heartbeat ?? ExecOptions.DefaultHeartbeat);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                IReadOnlyList<GpuHeartbeat> gpus;
                try { gpus = sampler.Sample(); }
                catch (Exception e)
                {
                    _log.Line($"GPU sampling failed: {e.Message}");
                    gpus = [];
                }
                lock (_stageGate)
                {
                    if (_exited) return;
                    events.Heartbeat(gpus);
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    internal static string Describe(IReadOnlyList<string> command)
    {
        var text = string.Join(' ', command.Select(a => a.Length == 0 || a.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'') ? $"'{a.Replace("'", "'\\''")}'" : a));
        return text.Length > 120 ? text[..117] + "..." : text;
    }
}
