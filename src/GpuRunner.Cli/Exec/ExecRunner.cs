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
/// The whole `gpurunner exec` run: checks, device report, start, readiness, heartbeats, exit, final flush.
/// Returns the app's exit code (128+N when a signal N ended it).
/// </summary>
public sealed class ExecRunner(ExecOptions options, ExecIO io, EventRecorder events, IDeviceReporter reporter,
    IHeartbeatSampler sampler, GpuWatch? watch = null)
{
    /// <summary>Code when --require is set and verify FAILed (the app never started).</summary>
    public const int VerifyFailedCode = 1;

    private readonly RunnerLog _log = io.Log;
    private readonly TailBuffer _stderrTail = new();
    private readonly object _stageGate = new();
    private bool _exited;

    public async Task<int> RunAsync()
    {
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

        // 2. Start the app.
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

            var exitCode = await child.WaitAsync();
            lock (_stageGate)
            {
                _exited = true;
                _exitedAt = child.ExitedAt;
            }
            await stopWatching.CancelAsync();
            await Task.WhenAll(readiness, heartbeats);

            ReportExit(exitCode, forwarder);
            stopRequested = forwarder.StopSignal is not null;
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
        if (forwarder.StopSignal is { } stop)
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
