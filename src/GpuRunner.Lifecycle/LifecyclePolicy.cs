namespace GpuRunner.Lifecycle;

/// <summary>Tunable rules. Defaults follow the source document (spaces-gpus.md).</summary>
public sealed record LifecyclePolicy
{
    /// <summary>Stages whose time is billed. Default: RUNNING, and the old hardware's run that keeps serving during a
    /// hardware change (billed at the old flavor until it stops). Newer docs also bill start-up: add AppStarting.</summary>
    public IReadOnlySet<Stage> BillableStages { get; init; } = new HashSet<Stage> { Stage.Running, Stage.RunningBuilding, Stage.RunningAppStarting };

    /// <summary>How long the core keeps an event that does not fit a Space's history before it gives up on it
    /// (dead letter, with the reason).</summary>
    public TimeSpan HoldWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Free hardware sleeps after this long without a visit; fixed, not settable.</summary>
    public TimeSpan FreeSleep { get; init; } = TimeSpan.FromHours(48);

    /// <summary>A live runner that sends nothing for longer than this is considered failed.</summary>
    public TimeSpan HeartbeatLease { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>A platform GPU fault of a run dated at most this long after the run's crash explains the crash: the
    /// watch's poll (every 5 s, and once more when the app dies) finds a lost GPU after the app already died of it.</summary>
    public TimeSpan FaultAfterCrash { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Late/out-of-order events are applied when at most this old; older ones are refused.</summary>
    public TimeSpan LateWindow { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Events dated further in the future than this clock skew are refused.</summary>
    public TimeSpan FutureSkew { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Bounds of a custom sleep time (seconds); -1 means never.</summary>
    public long MinSleepSeconds { get; init; } = 60;
    public long MaxSleepSeconds { get; init; } = 30L * 24 * 3600;

    public static LifecyclePolicy Default { get; } = new();

    /// <summary>Refuses an event time outside [now - LateWindow, now + FutureSkew].</summary>
    public void EnsureTimely(long atMs, long nowMs)
    {
        if (atMs < nowMs - (long)LateWindow.TotalMilliseconds)
            throw new LifecycleException(LifecycleErrorKind.Stale,
                $"event at {Time.Format(atMs)} is older than the {LateWindow.TotalHours:0.#} h late window (now {Time.Format(nowMs)}); it is refused");
        if (atMs > nowMs + (long)FutureSkew.TotalMilliseconds)
            throw new LifecycleException(LifecycleErrorKind.RuleBroken,
                $"event at {Time.Format(atMs)} is more than {FutureSkew.TotalSeconds:0} s in the future (now {Time.Format(nowMs)}); check the runner's clock");
    }
}

public static class Time
{
    public static string Format(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'");
    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
}
