using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Makes the run's events (fresh id, the time it happened) and stores each in the outbox before anything is sent;
/// the sender drains it in the background. Without a core it only logs the stage changes (said once at start).
/// </summary>
public sealed class EventRecorder : IAsyncDisposable
{
    private readonly Outbox? _outbox;
    private readonly OutboxSender? _sender;
    private readonly RunnerLog _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public string RunId { get; private set; } = NewId();
    private bool _ownsRun;
    public bool Reporting => _outbox is not null;
    /// <summary>Events this process made and stored (each sent once or more, applied once by the core).</summary>
    public int Recorded => _recorded;
    private int _recorded;
    public Outbox? Outbox => _outbox;

    private EventRecorder(Outbox? outbox, OutboxSender? sender, RunnerLog log, TimeProvider time)
    {
        _outbox = outbox;
        _sender = sender;
        _log = log;
        _time = time;
    }

    /// <summary>Time-ordered (UUIDv7), so ids also sort in the order they were made.</summary>
    public static string NewId() => Guid.CreateVersion7().ToString();

    public static EventRecorder LocalOnly(RunnerLog log) => new(null, null, log, TimeProvider.System);

    /// <summary>Opens the outbox for this core+space and starts draining it (including what earlier runs left).</summary>
    public static EventRecorder ForCore(Outbox outbox, SendEvent send, RunnerLog log, BackoffPolicy? policy = null,
        TimeProvider? time = null, SendBatch? sendBatch = null)
    {
        var sender = new OutboxSender(outbox, send, log.Line, policy, sendBatch: sendBatch);
        var pending = outbox.PendingCount();
        if (pending > 0) log.Line($"{pending} event(s) left by an earlier run are pending in {outbox.Location}; sending them first");
        var recorder = new EventRecorder(outbox, sender, log, time ?? TimeProvider.System);
        recorder._loop = Task.Run(() => sender.RunAsync(recorder._stop.Token));
        return recorder;
    }

    /// <summary>Registers this process's run with the core (and, on this machine, for `gpurunner report`).</summary>
    public void RunStarted(string host)
    {
        Store(RunnerRoute.Runs, id => RunnerClient.Serialize(new RunStartedEvent(id, Now, RunId, host)));
        try
        {
            _outbox?.SetCurrentRun(RunId, Environment.ProcessId, Now);
            _ownsRun = _outbox is not null;
        }
        catch (Microsoft.Data.Sqlite.SqliteException) { }
    }

    /// <summary>A new run of the app in this process (after the core restarted or woke the Space): a fresh id; register
    /// it with <see cref="RunStarted"/>.</summary>
    public void NewRun() => RunId = NewId();

    /// <summary>Waits (at most <paramref name="budget"/>) until the background sender delivered everything recorded so
    /// far; true when it did.</summary>
    public async Task<bool> WaitDeliveredAsync(TimeSpan budget, CancellationToken ct)
    {
        if (_outbox is null) return true;
        var deadline = DateTimeOffset.UtcNow + budget;
        while (_outbox.PendingCount() > 0)
        {
            if (DateTimeOffset.UtcNow >= deadline) return false;
            _sender!.Notify();
            await Task.Delay(50, ct);
        }
        return true;
    }

    /// <summary>
    /// For `report`: joins the run of a live `exec` on this machine (true), else registers a new run (false).
    /// </summary>
    public bool JoinLiveRunOrStart(string host)
    {
        if (_outbox?.LiveRun() is { } live)
        {
            RunId = live;
            return true;
        }
        Store(RunnerRoute.Runs, id => RunnerClient.Serialize(new RunStartedEvent(id, Now, RunId, host)));
        return false;
    }

    public void Device(System.Text.Json.JsonElement report) =>
        Store(RunnerRoute.Device, id => RunnerClient.Serialize(new DeviceEvent(id, Now, RunId, report)));

    /// <summary>A smoke report (already without its samples: <see cref="SmokeOnStart.ForCore"/>).</summary>
    public void Smoke(System.Text.Json.JsonElement report) =>
        Store(RunnerRoute.Smoke, id => RunnerClient.Serialize(new SmokeEvent(id, Now, RunId, report)));

    public void Stage(string stage, string? message = null, DateTimeOffset? at = null)
    {
        _log.Line(message is null ? $"stage {stage}" : $"stage {stage}: {FirstLine(message)}");
        Store(RunnerRoute.Stage, id => RunnerClient.Serialize(new StageEvent(id, at ?? Now, RunId, stage, message)));
    }

    public void Heartbeat(IReadOnlyList<GpuHeartbeat> gpus) =>
        Store(RunnerRoute.Heartbeat, id => RunnerClient.Serialize(new HeartbeatEvent(id, Now, RunId, gpus)));

    /// <summary>A classified GPU event of the watch, stamped when the watch saw it.</summary>
    public void GpuEvent(int gpu, string kind, int? code, string cls, bool fatal, string message, DateTimeOffset at) =>
        Store(RunnerRoute.GpuEvent, id => RunnerClient.Serialize(new GpuEvent(id, at, RunId, gpu, kind, code, cls, fatal, message)));

    public void Exit(int exitCode, string? signal, string? stderrTail, DateTimeOffset? at = null) =>
        Store(RunnerRoute.Exit, id => RunnerClient.Serialize(new ExitEvent(id, at ?? Now, RunId, exitCode, signal, stderrTail)));

    private DateTimeOffset Now => _time.GetUtcNow();

    private static string FirstLine(string s) => s.Split('\n')[0];

    private void Store(RunnerRoute route, Func<string, string> body)
    {
        if (_outbox is null) return;
        var id = NewId();
        try
        {
            _outbox.Add(route, id, body(id), Now);
            Interlocked.Increment(ref _recorded);
            _sender!.Notify();
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            // A full disk must not take the app down with it; the event is lost and the log says which.
            _log.Line($"outbox: could not store a {RunnerClient.PathOf(route)} event: {e.Message}");
        }
    }

    /// <summary>Stops the background sender and sends what is pending within <paramref name="budget"/>.</summary>
    public async Task<int> FlushAsync(TimeSpan budget)
    {
        if (_outbox is null || _sender is null) return 0;
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        var left = await _sender.FlushAsync(budget);
        if (left == 0 && _sender.HeldByCore == 0)
            _log.Line($"run {RunId}: {Recorded} event(s) recorded, all delivered");
        else if (left == 0)
            _log.Line($"run {RunId}: {Recorded} event(s) recorded and delivered, but the core holds {_sender.HeldByCore} of them: they do not fit the " +
                      "Space's history (yet); `gpurunner report` lists what it holds");
        else
            _log.Line($"{left} event(s) not delivered yet; they are kept in {_outbox.Location} " +
                      (_outbox.IsDurable ? "and sent by the next run or `gpurunner report`" : "(memory only: lost)"));
        return left;
    }

    /// <summary>
    /// The core will never take what is left (the Space was deleted): stops the sender and parks every pending event
    /// as a local dead letter with <paramref name="reason"/>, so that no later run keeps resending it.
    /// </summary>
    public async Task AbandonAsync(string reason)
    {
        if (_outbox is null || _sender is null) return;
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        var left = _outbox.Pending(int.MaxValue);
        foreach (var e in left) _outbox.Park(e.Seq, null, reason, _time.GetUtcNow());
        if (left.Count > 0) _log.Line($"{left.Count} event(s) not delivered are parked as dead letters in {_outbox.Location}: {reason}");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        if (_ownsRun)
        {
            try { _outbox?.ClearCurrentRun(RunId); }
            catch (Microsoft.Data.Sqlite.SqliteException) { }
        }
        _outbox?.Dispose();
        _stop.Dispose();
    }
}
