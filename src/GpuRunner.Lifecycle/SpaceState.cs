using System.Text.Json.Serialization;

namespace GpuRunner.Lifecycle;

/// <summary>The open billing interval: started at <see cref="StartMs"/>, billed as <see cref="BilledFlavor"/>.</summary>
public sealed record OpenInterval(long StartMs, string RequestedFlavor, string BilledFlavor, long HourlyMicroUsd);

/// <summary>A runner's device report named other hardware than the Space requested.</summary>
public sealed record HardwareMismatch(string Requested, string? Detected, string Summary, long AtMs);

/// <summary>The hardware a smoke report last proved: the flavor the Space asked for then, and its GPUs.</summary>
public sealed record VerifiedHardware(string Flavor, IReadOnlyList<string> GpuUuids, string RunId, long AtMs);

/// <summary>A run's smoke test found the platform's hardware faulty (wrong card, memory errors, far below spec).
/// <see cref="Billed"/>: the core received the report only after the run was RUNNING, so it does not lower the bill.</summary>
public sealed record HardwareFault(string RunId, string Flavor, string Summary, long AtMs, bool Billed = false);

/// <summary>
/// A Space's whole state. Immutable: <see cref="SpaceMachine"/> returns a new one per event, so a refused event
/// can never leave a half-applied state behind.
/// </summary>
public sealed record SpaceState
{
    public required string Id { get; init; }
    /// <summary>Distinguishes a re-created Space from an earlier one of the same name (ledger rows carry it).</summary>
    public required string Uid { get; init; }
    public required string Owner { get; init; }
    public required string Sdk { get; init; }
    public required string RequestedFlavor { get; init; }
    /// <summary>The hardware it runs on; null until its first run.</summary>
    public string? CurrentFlavor { get; init; }
    public Stage Stage { get; init; }
    /// <summary>null = the hardware's default (free: 48 h; paid: never); -1 = never; else seconds.</summary>
    public long? SleepSeconds { get; init; }
    public long CreatedAtMs { get; init; }
    public long StageSinceMs { get; init; }
    /// <summary>The newest `at` among applied state events; an older event needs a replay (out of order).</summary>
    public long LastStateEventAtMs { get; init; }
    public long? LastVisitAtMs { get; init; }
    /// <summary>Max `at` of heartbeats (commutative, so never replayed).</summary>
    public long? LastHeartbeatAtMs { get; init; }
    public string? RunId { get; init; }
    public long? RunStartedAtMs { get; init; }
    public string? DetectedFlavor { get; init; }
    public HardwareMismatch? Mismatch { get; init; }
    /// <summary>Last hardware a smoke report proved healthy; a run on other hardware smokes before its app starts.</summary>
    public VerifiedHardware? Verified { get; init; }
    /// <summary>The current run's smoke test failed on the platform's hardware: that run is not billed.</summary>
    public HardwareFault? HardwareFault { get; init; }
    /// <summary>Smoke level on a hardware change: null/"quick" (default) or "standard".</summary>
    public string? SmokeOnUpgrade { get; init; }
    public OpenInterval? Open { get; init; }
    public string? PauseReason { get; init; }
    public string? LastError { get; init; }
    /// <summary>STOPPED because the core put it to sleep (a visit wakes it), not because its app stopped.</summary>
    public bool Asleep { get; init; }
    /// <summary>The run whose own STOPPED was recorded: its exit that follows changes nothing.</summary>
    public string? StoppedRunId { get; init; }
    /// <summary>The `at` of the lost-heartbeats conclusion that failed the current run; a later heartbeat of that run
    /// proves it was only the network (<see cref="HeartbeatsResumed"/>).</summary>
    public long? LostHeartbeatsAtMs { get; init; }
    /// <summary>Runner events stored but not applied (they do not fit the history yet); kept by the core, not the fold.</summary>
    public int HeldCount { get; init; }
    /// <summary>Core time since which events are held (the oldest one's arrival, at most): the hold bound runs from it.</summary>
    public long? HeldSinceMs { get; init; }
    /// <summary>Held events the core gave up on after the hold bound (listed with their reason; never applied).</summary>
    public int DeadLetterCount { get; init; }
    /// <summary>The newest GPU event the runner reported (any class), for the Space page and the fleet view.</summary>
    public GpuNote? LastGpuEvent { get; init; }
    /// <summary>Set when the run ended on the platform's GPU fault (hardware, driver or firmware); cleared by a new run.</summary>
    public GpuNote? PlatformFault { get; init; }

    [JsonIgnore] public bool Paused => Stage == Stage.Paused;
    [JsonIgnore] public string Namespace => Id[..Id.IndexOf('/')];
    [JsonIgnore] public string Name => Id[(Id.IndexOf('/') + 1)..];
}

/// <summary>A GPU event in brief: when, which GPU, its class (user|hardware|driver|info), kind, code, and its summary.</summary>
public sealed record GpuNote(long AtMs, int Gpu, string Class, string Kind, int? Code, bool Fatal, string Message)
{
    /// <summary>The platform's fault (hardware, driver or firmware) that ends the run: billing closes at its instant.</summary>
    [JsonIgnore] public bool PlatformFault => Fatal && Class is "hardware" or "driver";
}

/// <summary>Inputs of the stage machine. `AtMs` is when it happened (the runner's clock for runner events).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(Created), "created")]
[JsonDerivedType(typeof(HardwareRequested), "hardware")]
[JsonDerivedType(typeof(SleepTimeSet), "sleeptime")]
[JsonDerivedType(typeof(PauseRequested), "pause")]
[JsonDerivedType(typeof(RestartRequested), "restart")]
[JsonDerivedType(typeof(Visited), "visit")]
[JsonDerivedType(typeof(RunStarted), "run")]
[JsonDerivedType(typeof(StageReported), "stage")]
[JsonDerivedType(typeof(DeviceReported), "device")]
[JsonDerivedType(typeof(RunExited), "exit")]
[JsonDerivedType(typeof(HeartbeatsLost), "lost")]
[JsonDerivedType(typeof(SleepDue), "sleep")]
[JsonDerivedType(typeof(DeleteRequested), "delete")]
[JsonDerivedType(typeof(HeartbeatsResumed), "resumed")]
[JsonDerivedType(typeof(SmokeReported), "smoke")]
[JsonDerivedType(typeof(SmokeLevelSet), "smokelevel")]
[JsonDerivedType(typeof(GpuReported), "gpu")]
public abstract record SpaceEvent
{
    public long AtMs { get; init; }
    /// <summary>The runner's own `at` when the core recorded the event at another instant (a stop dated before the
    /// evidence the core already had is recorded at that evidence); null otherwise.</summary>
    public long? ClaimedAtMs { get; init; }
    [JsonIgnore] public virtual string Kind => GetType().Name;
}

public sealed record Created(string Owner, string Sdk, string Flavor, long? SleepSeconds, string Uid) : SpaceEvent;
public sealed record HardwareRequested(string Flavor, long? SleepSeconds) : SpaceEvent;
public sealed record SleepTimeSet(long Seconds) : SpaceEvent;
public sealed record PauseRequested(bool Auto, string? Reason) : SpaceEvent;
public sealed record RestartRequested(bool Factory) : SpaceEvent;
public sealed record Visited : SpaceEvent;
public sealed record RunStarted(string RunId, string? Host) : SpaceEvent;
public sealed record StageReported(string RunId, Stage Stage, string? Message) : SpaceEvent;
/// <summary>A runner's device report. <see cref="Facts"/>: the hardware it found, which the core prices against its
/// own catalogue; <see cref="DetectedFlavor"/>: the runner's own tier name (`tier.flavor`, from the runner's
/// catalogue; null when none matched), used only when a report carries no facts.</summary>
public sealed record DeviceReported(string RunId, string? DetectedFlavor, string? Summary, DeviceFacts? Facts = null) : SpaceEvent;
/// <summary>A classified GPU event of the runner's watch. A fatal hardware or driver fault ends the run at its
/// instant as the platform's fault (RUNTIME_ERROR, not paused); anything else is only noted.</summary>
public sealed record GpuReported(string RunId, GpuNote Note) : SpaceEvent;
public sealed record RunExited(string RunId, int ExitCode, string? Signal, string? StderrTail) : SpaceEvent;
/// <summary>Made by the core's clock; `AtMs` is the last evidence that the Space was running.</summary>
public sealed record HeartbeatsLost : SpaceEvent;
/// <summary>Made by the core's clock; `AtMs` is when the sleep time ran out.</summary>
public sealed record SleepDue : SpaceEvent;
public sealed record DeleteRequested : SpaceEvent;
/// <summary>Made by the core when a heartbeat of the failed run arrives dated after <see cref="LostAtMs"/>: the run was
/// alive through the silence, so that lost-heartbeats conclusion is void (the fold skips it). `AtMs` = LostAtMs.</summary>
public sealed record HeartbeatsResumed(long LostAtMs) : SpaceEvent;
/// <summary>A runner's smoke report, as the core judged it: <see cref="Flavor"/> is the flavor it tested against,
/// <see cref="Fault"/> the core's summary of what failed (null when nothing did). The report itself is the event's detail.
/// <see cref="AfterRunning"/>: set by the core when it received the report after the run was already RUNNING (its own
/// evidence): such a fault is shown, but does not lower the bill.</summary>
public sealed record SmokeReported(string RunId, string Flavor, string Verdict, IReadOnlyList<string> GpuUuids, string? Fault,
    bool AfterRunning = false) : SpaceEvent;
/// <summary>The owner's smoke level on a hardware change: "quick" or "standard".</summary>
public sealed record SmokeLevelSet(string Level) : SpaceEvent;
