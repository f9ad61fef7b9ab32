using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuRunner.Client;

// Bodies of the runner routes (docs/contracts.md, "Runner routes of the core"). Every body carries a client-made
// eventId (stable across retries: the core acknowledges a repeat with "duplicate": true and never applies it twice)
// and `at`, the UTC time the event happened (not the time it was sent: the outbox may send it much later).

/// <summary>The route an event goes to, under /api/runner/spaces/{ns}/{name}/.</summary>
public enum RunnerRoute { Runs, Device, Stage, Heartbeat, Exit, Smoke, GpuEvent }

// Several stored events go in one request to POST batch: {"events": [{"route": "heartbeat", "body": <its body>}]}.

/// <summary>Lifecycle stages a runner may report.</summary>
public static class RunnerStages
{
    public const string AppStarting = "APP_STARTING";
    public const string Running = "RUNNING";
    public const string Stopped = "STOPPED";
    public const string RuntimeError = "RUNTIME_ERROR";
}

public sealed record RunStartedEvent(string EventId, DateTimeOffset At, string RunId, string Host);

public sealed record DeviceEvent(string EventId, DateTimeOffset At, string RunId, JsonElement Report);

public sealed record StageEvent(string EventId, DateTimeOffset At, string RunId, string Stage, string? Message = null);

/// <summary>One GPU's readings in a heartbeat (docs/contracts.md lists each field's unit and range). Everything after
/// <see cref="PowerW"/> is optional: absent where the device or driver cannot tell. <see cref="Throttle"/>: the
/// nvmlClocksEventReason bits; the ECC fields: errors since the previous heartbeat (deltas of the volatile
/// counters); <see cref="ProcessMemoryMiB"/>: what the app's processes hold, where per-process accounting sees them.</summary>
public sealed record GpuHeartbeat(int Index, double? UtilizationPct, long? MemoryUsedMiB, double? TemperatureC, double? PowerW,
    double? MemUtilPct = null, int? SmClockMHz = null, long? Throttle = null, long? EccCorrected = null, long? EccUncorrected = null,
    long? ProcessMemoryMiB = null);

public sealed record HeartbeatEvent(string EventId, DateTimeOffset At, string RunId, IReadOnlyList<GpuHeartbeat> Gpus);

/// <summary>A smoke report (gpurunner.smoke/1, without its samples) of the run's hardware, made before the app started.</summary>
public sealed record SmokeEvent(string EventId, DateTimeOffset At, string RunId, JsonElement Report);
/// <summary>A classified GPU event from the runner's watch (docs/gpu-watch.md): class user|hardware|driver|info;
/// <see cref="Fatal"/> with class hardware or driver is the platform's fault and ends the run at <c>at</c>.</summary>
public sealed record GpuEvent(string EventId, DateTimeOffset At, string RunId, int Gpu, string Kind, int? Code, string Class,
    bool Fatal, string Message);

public sealed record ExitEvent(string EventId, DateTimeOffset At, string RunId, int ExitCode, string? Signal = null, string? StderrTail = null);

/// <summary>The core's answer to an accepted event. <see cref="Duplicate"/>: it had been received before.
/// <see cref="Held"/> (202): stored but not applied yet, because it does not fit the events the core has so far (why);
/// the core applies it if the events it follows arrive within its late window. Delivered either way.</summary>
public sealed record RunnerAck(bool Duplicate = false, string? RunId = null, string? Held = null);

/// <summary>One entry's answer in a batch (POST batch): the status its own route would have answered, with the
/// acknowledgement (2xx) or the core's `error` message.</summary>
public sealed record RunnerBatchResult(int Status, RunnerAck? Ack, string? Error)
{
    public bool Delivered => Status is >= 200 and < 300;
}

/// <summary>
/// What the core decided for a run (GET desired): running, paused, sleeping, deleted, restart or reschedule
/// (<see cref="DesiredStates"/>), the Space's stage, a reason to log, and the hardware it asks for.
/// </summary>
public sealed record RunnerDesired(string Desired, string? Stage = null, string? Reason = null, string? Flavor = null);

/// <summary>The decisions a runner acts on (docs/supervision.md).</summary>
public static class DesiredStates
{
    public const string Running = "running", Paused = "paused", Sleeping = "sleeping", Deleted = "deleted",
        Restart = "restart", Reschedule = "reschedule";

    /// <summary>Decisions that stop the app.</summary>
    public static bool Stops(string d) => d is Paused or Sleeping or Deleted or Restart;
}

/// <summary>One event the core holds for the Space (it does not fit the history yet) or gave up on (a dead letter).</summary>
public sealed record HeldEventInfo(string EventId, string? Source, string? Kind, string? At, string? ReceivedAt, string? Reason);

/// <summary>GET held: the events the core holds for the Space and its dead letters, each with why.</summary>
public sealed record HeldEvents(IReadOnlyList<HeldEventInfo> Held, IReadOnlyList<HeldEventInfo> DeadLetters, double? HoldMinutes = null);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunStartedEvent))]
[JsonSerializable(typeof(DeviceEvent))]
[JsonSerializable(typeof(StageEvent))]
[JsonSerializable(typeof(HeartbeatEvent))]
[JsonSerializable(typeof(ExitEvent))]
[JsonSerializable(typeof(SmokeEvent))]
[JsonSerializable(typeof(GpuEvent))]
[JsonSerializable(typeof(RunnerAck))]
[JsonSerializable(typeof(RunnerDesired))]
[JsonSerializable(typeof(HeldEvents))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class RunnerJsonContext : JsonSerializerContext;
