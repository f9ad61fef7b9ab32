namespace GpuRunner.Lifecycle;

/// <summary>The Hub's Space stage enum (huggingface_hub SpaceStage); wire names are SCREAMING_SNAKE.</summary>
public enum Stage
{
    NoAppFile, ConfigError, Building, BuildError, Running, RunningBuilding, RuntimeError,
    Deleting, Stopped, Paused, AppStarting, RunningAppStarting,
}

public static class Stages
{
    private static readonly Dictionary<Stage, string> Names = new()
    {
        [Stage.NoAppFile] = "NO_APP_FILE", [Stage.ConfigError] = "CONFIG_ERROR", [Stage.Building] = "BUILDING",
        [Stage.BuildError] = "BUILD_ERROR", [Stage.Running] = "RUNNING", [Stage.RunningBuilding] = "RUNNING_BUILDING",
        [Stage.RuntimeError] = "RUNTIME_ERROR", [Stage.Deleting] = "DELETING", [Stage.Stopped] = "STOPPED",
        [Stage.Paused] = "PAUSED", [Stage.AppStarting] = "APP_STARTING", [Stage.RunningAppStarting] = "RUNNING_APP_STARTING",
    };
    private static readonly Dictionary<string, Stage> ByName = Names.ToDictionary(p => p.Value, p => p.Key);

    public static string ToWire(this Stage stage) => Names[stage];

    public static bool TryParse(string? wire, out Stage stage) => ByName.TryGetValue(wire ?? "", out stage);

    /// <summary>Stages in which a runner process is expected to be alive and sending heartbeats.</summary>
    public static bool IsAlive(this Stage s) =>
        s is Stage.AppStarting or Stage.Running or Stage.RunningBuilding or Stage.RunningAppStarting;
}

/// <summary>Who asks for a move. The machine allows each move only for some actors.</summary>
public enum Actor { Owner, Runner, Core, Visitor }

/// <summary>
/// The explicit stage machine: every allowed (from, to, actor) is listed here and nowhere else. A move not in the
/// table is refused with <see cref="LifecycleErrorKind.IllegalTransition"/> before anything changes.
/// Staying in the same stage is always allowed (a retried report is a no-op, not an error).
/// </summary>
public static class StageMachine
{
    private static readonly Stage[] All = Enum.GetValues<Stage>();
    private static readonly HashSet<(Stage From, Stage To, Actor By)> Allowed = Build();

    private static HashSet<(Stage, Stage, Actor)> Build()
    {
        var t = new HashSet<(Stage, Stage, Actor)>
        {
            // The runner's own life: build done -> app starting -> running; failures; going to sleep.
            (Stage.Building, Stage.AppStarting, Actor.Runner),
            (Stage.NoAppFile, Stage.AppStarting, Actor.Runner),
            (Stage.AppStarting, Stage.Running, Actor.Runner),
            (Stage.Running, Stage.Stopped, Actor.Runner),
            // Stopped on request before it became ready (e.g. `docker stop` during start-up): a clean stop, not a
            // failure, so it must not auto-pause the Space.
            (Stage.AppStarting, Stage.Stopped, Actor.Runner),
            (Stage.Building, Stage.BuildError, Actor.Runner),
            (Stage.Building, Stage.RuntimeError, Actor.Runner), // crashed before it could say APP_STARTING
            // A hardware change while running: the old hardware keeps serving until the new one runs.
            (Stage.Running, Stage.RunningBuilding, Actor.Owner),
            (Stage.RunningBuilding, Stage.RunningAppStarting, Actor.Runner),
            (Stage.RunningAppStarting, Stage.Running, Actor.Runner),
            (Stage.RunningBuilding, Stage.Running, Actor.Runner),
            // Sleep and wake: the core puts an idle Space to sleep; a visit wakes it.
            (Stage.Running, Stage.Stopped, Actor.Core),
            (Stage.Stopped, Stage.AppStarting, Actor.Visitor),
            // A container restart: a new run on a Space whose last run stopped (not asleep, not paused).
            (Stage.Stopped, Stage.AppStarting, Actor.Runner),
            // Also after the platform's GPU fault (RUNTIME_ERROR that is not auto-paused): a run on healthy hardware.
            (Stage.RuntimeError, Stage.AppStarting, Actor.Runner),
            // The old hardware stopped during a hardware change: the Space waits for a run on the new one.
            (Stage.RunningBuilding, Stage.Building, Actor.Runner),
        };
        foreach (var from in new[] { Stage.AppStarting, Stage.Running, Stage.RunningBuilding, Stage.RunningAppStarting })
        {
            t.Add((from, Stage.RuntimeError, Actor.Runner));
            t.Add((from, Stage.RuntimeError, Actor.Core)); // lost heartbeats
        }
        foreach (var from in All.Where(s => s != Stage.Deleting))
        {
            t.Add((from, Stage.Paused, Actor.Owner));
            t.Add((from, Stage.Deleting, Actor.Owner));
            t.Add((from, Stage.Building, Actor.Owner)); // restart (also from PAUSED: owner only) or hardware change
        }
        t.Add((Stage.RuntimeError, Stage.Paused, Actor.Core)); // auto-pause of a failing Space
        return t;
    }

    public static bool IsAllowed(Stage from, Stage to, Actor by) => from == to || Allowed.Contains((from, to, by));

    /// <summary>Throws (never applies) when the move is not in the table.</summary>
    public static void Ensure(Stage from, Stage to, Actor by, string spaceId) => Ensure(from, to, by, spaceId, asleep: false);

    /// <summary>As <see cref="Ensure(Stage, Stage, Actor, string)"/>; an asleep Space is woken by a visit, not by a runner.</summary>
    public static void Ensure(Stage from, Stage to, Actor by, string spaceId, bool asleep)
    {
        if (IsAllowed(from, to, by) && !(asleep && from == Stage.Stopped && to == Stage.AppStarting && by == Actor.Runner)) return;
        var hint = from switch
        {
            Stage.Paused => " (a paused Space stays stopped until its owner restarts it)",
            Stage.Deleting => " (the Space is being deleted)",
            Stage.Building when by == Actor.Runner => " (the Space is waiting for a run to report APP_STARTING first)",
            Stage.Stopped when asleep => " (the Space is asleep: a visit wakes it)",
            _ => "",
        };
        throw new LifecycleException(LifecycleErrorKind.IllegalTransition,
            $"illegal transition for {spaceId}: {from.ToWire()} -> {to.ToWire()} is not allowed for the {by.ToString().ToLowerInvariant()}{hint}");
    }
}
