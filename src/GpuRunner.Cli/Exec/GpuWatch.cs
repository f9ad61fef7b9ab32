using GpuRunner.Diagnostics.Watch;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// The GPU watch of one `exec` run: starts with the app, logs one line per finding (cause, class, what to do),
/// stores each as a durable event in the outbox, and names the GPU cause of a crash for the RUNTIME_ERROR.
/// </summary>
public sealed class GpuWatch : IDisposable
{
    private readonly GpuWatcher _watcher;

    public GpuWatch(EventRecorder events, RunnerLog log, GpuWatchOptions? options = null, XidTable? table = null)
    {
        _watcher = new GpuWatcher(table ?? XidTable.BuiltIn, e =>
        {
            log.Line(e.LogLine);
            events.GpuEvent(e.Gpu, e.Kind, e.Code, e.Class.ToWire(), e.Fatal, e.Summary, e.At);
        }, log.Line, options);
    }

    public string Mode => _watcher.Mode;

    /// <summary>Called for every run of the app: one watch thread in all, the crash cause per run.</summary>
    public void Start()
    {
        _watcher.BeginRun();
        _watcher.Start();
    }

    /// <summary>
    /// After the app exited non-zero: the GPU fault that explains it, if the watch saw one (a last poll first, with a
    /// deadline, since the crash may beat the watch by a moment), as its summary line; null otherwise.
    /// </summary>
    public string? CauseOfCrash(TimeSpan settle)
    {
        if (_watcher.FirstFault is null) _watcher.Settle(settle);
        return _watcher.FirstFault?.Summary;
    }

    /// <summary>Stops the watch thread; a hung NVML call is left behind (the thread is a background one).</summary>
    public void Dispose() => _watcher.Dispose();
}
