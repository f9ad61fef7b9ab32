namespace GpuRunner.Lifecycle;

/// <summary>What a Space's runner should be doing, as the core tells it (README "Supervision").</summary>
public enum DesiredKind
{
    /// <summary>Run the app (start it when it is not running).</summary>
    Running,
    /// <summary>Paused (by its owner, or automatically after a failure): stop the app and wait for a restart.</summary>
    Paused,
    /// <summary>Asleep (no visit within the sleep time): stop the app and wait for a visit.</summary>
    Sleeping,
    /// <summary>Deleted: stop the app; nothing will ever run here again.</summary>
    Deleted,
    /// <summary>The owner restarted the Space after this run began: stop the app and start it again as a new run.</summary>
    Restart,
    /// <summary>Other hardware was requested: the app keeps serving here until the container moves to it.</summary>
    Reschedule,
}

/// <summary>The decision for one run: what, why (for the runner's log), and the hardware the Space asks for.</summary>
public sealed record Desired(DesiredKind Kind, string Stage, string Reason, string? Flavor, long SinceMs)
{
    public string Wire => Kind.ToString().ToLowerInvariant();

    public static bool TryParse(string? wire, out DesiredKind kind) =>
        Enum.TryParse(wire, ignoreCase: true, out kind) && Enum.IsDefined(kind) && !int.TryParse(wire, out _);

    /// <summary>
    /// The decision for the run <paramref name="runId"/> (null: a runner whose app is not running) of Space
    /// <paramref name="s"/> (null: it no longer exists). A pure function of the state, so every core instance gives
    /// the same answer.
    /// </summary>
    public static Desired Of(SpaceState? s, string? runId)
    {
        if (s is null) return new(DesiredKind.Deleted, Lifecycle.Stage.Deleting.ToWire(), "the Space no longer exists (deleted)", null, 0);
        var stage = s.Stage.ToWire();
        Desired D(DesiredKind k, string why) => new(k, stage, why, s.RequestedFlavor, s.StageSinceMs);
        switch (s.Stage)
        {
            case Lifecycle.Stage.Deleting:
                return D(DesiredKind.Deleted, "the Space is being deleted");
            case Lifecycle.Stage.Paused:
                return D(DesiredKind.Paused, s.PauseReason ?? "paused");
            case Lifecycle.Stage.Stopped when s.Asleep:
                return D(DesiredKind.Sleeping, "asleep: no visit within its sleep time; a visit wakes it");
            case Lifecycle.Stage.RunningBuilding:
            case Lifecycle.Stage.RunningAppStarting when runId != s.RunId:
                return D(DesiredKind.Reschedule,
                    $"hardware {s.RequestedFlavor} was requested: this container must be rescheduled on it (the app keeps serving, billed as {s.CurrentFlavor ?? "before"}, until it stops)");
            case Lifecycle.Stage.Building when runId is not null && runId == s.RunId && s.StageSinceMs >= (s.RunStartedAtMs ?? long.MaxValue):
                return D(DesiredKind.Restart, "restarted by its owner");
            default:
                return D(DesiredKind.Running, "running");
        }
    }
}
