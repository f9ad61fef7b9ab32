namespace GpuRunner.Lifecycle;

/// <summary>A closed, metered running interval: one row of the usage ledger.</summary>
public sealed record UsageInterval(string SpaceId, string SpaceUid, string Owner, string RequestedFlavor,
    string BilledFlavor, long HourlyMicroUsd, long StartMs, long EndMs)
{
    public long Ms => EndMs - StartMs;
}

/// <summary>The result of one event: the new state and the intervals it closed (to append to the ledger).</summary>
public sealed record Step(SpaceState State, IReadOnlyList<UsageInterval> Closed);

/// <summary>
/// The pure lifecycle: applies one event to a Space's state, enforcing the stage machine, the sleep and pause rules,
/// the hardware mismatch rule, and metering. No I/O and no clock: every time comes in on the event.
/// </summary>
public sealed class SpaceMachine(HardwareCatalogue catalogue, LifecyclePolicy policy)
{
    public const string Unmatched = "unmatched";
    /// <summary>Billed flavor of a run whose smoke test found a platform hardware fault: $0.</summary>
    public const string HardwareFaultBilled = "hardware-fault";
    public static readonly string[] SmokeLevels = ["quick", "standard"];
    public static readonly HashSet<string> Sdks = ["docker", "gradio", "streamlit", "static"];

    public HardwareCatalogue Catalogue { get; } = catalogue;
    public LifecyclePolicy Policy { get; } = policy;

    public Step Apply(SpaceState? state, SpaceEvent e)
    {
        if (e is Created c)
        {
            if (state is not null)
                throw new LifecycleException(LifecycleErrorKind.Conflict, $"{state.Id} already exists");
            throw new InvalidOperationException("use Create for a Created event");
        }
        if (state is null) throw new LifecycleException(LifecycleErrorKind.NotFound, "no such Space");
        var next = Transit(state, e);
        next = next with { LastStateEventAtMs = Math.Max(state.LastStateEventAtMs, e.AtMs) };
        return Meter(next, e.AtMs);
    }

    /// <summary>A new Space: validated, stage BUILDING, no current hardware yet.</summary>
    public SpaceState Create(string id, Created c)
    {
        ValidateId(id);
        if (!Sdks.Contains(c.Sdk))
            throw Bad($"unknown sdk '{c.Sdk}'; use one of: {string.Join(", ", Sdks)}");
        var flavor = Catalogue.Get(c.Flavor);
        ValidateSleep(flavor, c.SleepSeconds, id);
        return new SpaceState
        {
            Id = id, Uid = c.Uid, Owner = c.Owner, Sdk = c.Sdk, RequestedFlavor = flavor.Id, SleepSeconds = c.SleepSeconds,
            Stage = Stage.Building, CreatedAtMs = c.AtMs, StageSinceMs = c.AtMs, LastStateEventAtMs = c.AtMs,
        };
    }

    /// <summary>Folds a Space's whole history (ordered by time), returning every interval it closed.</summary>
    public Step Replay(string id, IReadOnlyList<SpaceEvent> ordered)
    {
        if (ordered.Count == 0 || ordered[0] is not Created c)
            throw new InvalidOperationException($"history of {id} must start with its creation");
        var state = Create(id, c);
        var closed = new List<UsageInterval>();
        foreach (var e in ordered.Skip(1))
        {
            var step = Apply(state, e);
            state = step.State;
            closed.AddRange(step.Closed);
        }
        return new Step(state, closed);
    }

    /// <summary>
    /// Folds a Space's stored history in the canonical order (<see cref="EventOrder.Sort"/>), whatever order it arrived
    /// in. An event that does not fit where it falls (an illegal move, a run not registered yet, ...) is held: it
    /// changes nothing and is listed in <see cref="Fold.Held"/>. The result depends only on the set of events.
    /// </summary>
    public Fold Fold(string id, IEnumerable<LoggedEvent> history)
    {
        var ordered = history.ToList();
        EventOrder.Sort(ordered);
        if (ordered.Count == 0 || ordered[0].Event is not Created c)
            throw new InvalidOperationException($"history of {id} must start with its creation");
        var state = Create(id, c);
        var last = c.AtMs;
        var closed = new List<UsageInterval>();
        var held = new List<HeldEvent>();
        // Lost-heartbeats conclusions that a later heartbeat of the same run proved wrong are skipped.
        var void_ = ordered.Select(x => x.Event).OfType<HeartbeatsResumed>().Select(r => r.LostAtMs).ToHashSet();
        foreach (var x in ordered.Skip(1))
        {
            last = Math.Max(last, x.Event.AtMs);
            if (x.Event is HeartbeatsLost && void_.Contains(x.Event.AtMs)) continue;
            try
            {
                var step = Apply(state, x.Event);
                state = step.State;
                closed.AddRange(step.Closed);
            }
            catch (LifecycleException why) { held.Add(new HeldEvent(x, why)); }
        }
        return new Fold(state with { LastStateEventAtMs = last }, closed, held);
    }

    /// <summary>
    /// Receives one state event into a Space whose state <paramref name="s"/> is the fold of its stored history.
    /// The result is always the fold of the history with the event added (so any delivery order of the same events
    /// ends in the same state and the same net ledger):
    /// <list type="bullet">
    /// <item>newer than everything stored: applied to <paramref name="s"/> directly (the fold would end with it);</item>
    /// <item>otherwise (late or out of order): the history is re-folded with the event in its place, and the ledger
    /// gets compensating rows for intervals that changed (<see cref="Ledger.Reconcile"/>).</item>
    /// </list>
    /// When the event does not fit where it falls: with <paramref name="holdIfUnfit"/> (runner events, which may
    /// arrive before the events they follow) it is held — stored, changing nothing, applied by a later fold once
    /// the missing events arrive; without (owner and core actions, decided now) the refusal is thrown and nothing
    /// changes. <paramref name="history"/> and <paramref name="recorded"/> are read only for a re-fold.
    /// </summary>
    public Receipt Receive(SpaceState s, SpaceEvent e, bool holdIfUnfit, Func<IEnumerable<LoggedEvent>> history,
        Func<IEnumerable<LedgerEntry>> recorded)
    {
        if (e is Created) throw new LifecycleException(LifecycleErrorKind.Conflict, $"{s.Id} already exists");
        if (e.AtMs < s.CreatedAtMs)
            throw new LifecycleException(LifecycleErrorKind.Stale,
                $"event at {Time.Format(e.AtMs)} predates the creation of {s.Id} at {Time.Format(s.CreatedAtMs)}");
        if (e.AtMs > s.LastStateEventAtMs && e is not HeartbeatsResumed)
        {
            try
            {
                var step = Apply(s, e);
                return new Receipt(step.State, step.Closed.Select(i => new LedgerEntry(i, +1)).ToList(), null, false);
            }
            catch (LifecycleException why) when (holdIfUnfit)
            {
                return new Receipt(s with { LastStateEventAtMs = e.AtMs, HeldCount = s.HeldCount + 1 }, [], why, false);
            }
        }
        var mine = new LoggedEvent(e, long.MaxValue);
        var fold = Fold(s.Id, history().Append(mine));
        var held = fold.Held.FirstOrDefault(h => ReferenceEquals(h.Event, mine))?.Why;
        if (held is not null && !holdIfUnfit) throw held;
        // Heartbeats are not state events: their evidence is carried over, never re-derived; so is the core's own
        // bookkeeping of held and dead-lettered events.
        var next = fold.State with
        {
            LastHeartbeatAtMs = s.LastHeartbeatAtMs, HeldCount = fold.Held.Count, HeldSinceMs = s.HeldSinceMs,
            DeadLetterCount = s.DeadLetterCount,
        };
        return new Receipt(next, Ledger.Reconcile(recorded(), fold.Closed), held, true);
    }

    /// <summary>
    /// The instant the core records a runner's stop at (README "Trust model"): a STOPPED, RUNTIME_ERROR or exit of the
    /// current run dated before the last heartbeat the core already received from it would shorten a billed interval
    /// below the core's evidence, so it is recorded at that heartbeat (clamped; the claim is kept in
    /// <see cref="SpaceEvent.ClaimedAtMs"/>). Any other event is returned unchanged.
    /// </summary>
    public static SpaceEvent ClampToEvidence(SpaceState s, SpaceEvent e)
    {
        var ends = e is StageReported { Stage: Stage.Stopped or Stage.RuntimeError } or RunExited;
        if (!ends || EventOrder.RunOf(e) != s.RunId || s.LastHeartbeatAtMs is not { } hb) return e;
        if (hb <= e.AtMs || hb < (s.RunStartedAtMs ?? long.MaxValue)) return e;
        return e with { AtMs = hb, ClaimedAtMs = e.AtMs };
    }

    /// <summary>A heartbeat only moves the last evidence of life forward; order does not matter.</summary>
    public static SpaceState Heartbeat(SpaceState s, long atMs) =>
        s.LastHeartbeatAtMs >= atMs ? s : s with { LastHeartbeatAtMs = atMs };

    public static void ValidateId(string id)
    {
        var parts = id.Split('/');
        // "." and ".." are path segments, not names: a URL holding them is rewritten by every client on the way.
        if (parts.Length != 2 || parts.Any(p => p.Length is 0 or > 96 || p is "." or ".." || !p.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')))
            throw Bad($"bad Space id '{(id.Length > 200 ? id[..200] + "…" : id)}': want NAMESPACE/NAME of letters, digits, '-', '_', '.' (at most 96 each, not '.' or '..')");
    }

    private SpaceState Transit(SpaceState s, SpaceEvent e)
    {
        switch (e)
        {
            case HardwareRequested h:
            {
                var flavor = Catalogue.Get(h.Flavor);
                ValidateSleep(flavor, h.SleepSeconds, s.Id);
                var to = s.Stage switch
                {
                    Stage.Running or Stage.RunningBuilding or Stage.RunningAppStarting => Stage.RunningBuilding,
                    Stage.Paused => Stage.Paused, // the new hardware applies at the owner's restart
                    _ => Stage.Building,
                };
                if (s.Stage is not (Stage.RunningBuilding or Stage.RunningAppStarting))
                    StageMachine.Ensure(s.Stage, to, Actor.Owner, s.Id);
                var sleep = flavor.IsFree ? null : h.SleepSeconds ?? s.SleepSeconds;
                return Move(s, to, e.AtMs) with { RequestedFlavor = flavor.Id, SleepSeconds = sleep };
            }
            case SleepTimeSet st:
            {
                var flavor = Catalogue.Get(s.RequestedFlavor);
                ValidateSleep(flavor, st.Seconds, s.Id);
                return s with { SleepSeconds = st.Seconds };
            }
            case PauseRequested p:
            {
                var by = p.Auto ? Actor.Core : Actor.Owner;
                StageMachine.Ensure(s.Stage, Stage.Paused, by, s.Id);
                return Move(s, Stage.Paused, e.AtMs) with { PauseReason = p.Reason ?? (p.Auto ? "auto" : "paused by the owner") };
            }
            case RestartRequested:
                StageMachine.Ensure(s.Stage, Stage.Building, Actor.Owner, s.Id);
                return Move(s, Stage.Building, e.AtMs, force: true) with { PauseReason = null, LastError = null, PlatformFault = null };
            case Visited:
            {
                var v = s with { LastVisitAtMs = Math.Max(s.LastVisitAtMs ?? 0, e.AtMs) };
                return s.Stage == Stage.Stopped ? Move(v, Stage.AppStarting, e.AtMs) : v;
            }
            case RunStarted r:
                if (s.Stage is Stage.Paused or Stage.Deleting)
                    throw new LifecycleException(LifecycleErrorKind.IllegalTransition,
                        $"{s.Id} is {s.Stage.ToWire()}: a runner cannot start it (only its owner can restart it)");
                if (string.IsNullOrWhiteSpace(r.RunId)) throw Bad("runId is required");
                return s with { RunId = r.RunId, RunStartedAtMs = e.AtMs, DetectedFlavor = null, Mismatch = null, HardwareFault = null, PlatformFault = null };
            case GpuReported g:
            {
                EnsureRun(s, g.RunId);
                var noted = s with { LastGpuEvent = g.Note };
                if (!g.Note.PlatformFault) return noted;
                if (!s.Stage.IsAlive())
                {
                    // Found just after the crash of this run (a poll sees a lost GPU after the app died of it): the
                    // crash was the platform's too, so its auto-pause is undone. Billing closed at the crash and
                    // stays closed (neither stage is billed).
                    var crashed = s.Stage == Stage.Paused && s.RunId == g.RunId && s.PlatformFault is null
                                  && s.PauseReason?.StartsWith(AutoPauseAfterCrash, StringComparison.Ordinal) == true
                                  && e.AtMs >= s.StageSinceMs && e.AtMs - s.StageSinceMs <= (long)Policy.FaultAfterCrash.TotalMilliseconds;
                    return crashed
                        ? noted with { Stage = Stage.RuntimeError, PauseReason = null, LastError = "platform fault: " + g.Note.Message, PlatformFault = g.Note }
                        : noted;
                }
                // The platform's fault, not the owner's: the run ends here (billing closes at this instant, since
                // RUNTIME_ERROR is not billable) and the Space is NOT auto-paused; it waits for a restart on healthy
                // hardware (the owner's restart, or a new run the platform starts elsewhere).
                StageMachine.Ensure(s.Stage, Stage.RuntimeError, Actor.Runner, s.Id);
                return Move(noted, Stage.RuntimeError, e.AtMs) with
                {
                    LastError = "platform fault: " + g.Note.Message, PlatformFault = g.Note, PauseReason = null,
                };
            }
            case StageReported sr:
                EnsureRun(s, sr.RunId);
                return ReportedStage(s, sr);
            case DeviceReported d:
            {
                EnsureRun(s, d.RunId);
                var (detected, summary) = Detect(s.RequestedFlavor, d);
                var mismatch = detected == s.RequestedFlavor ? null : new HardwareMismatch(s.RequestedFlavor, detected, summary, e.AtMs);
                return s with { RunId = d.RunId, DetectedFlavor = detected, Mismatch = mismatch };
            }
            case RunExited x:
            {
                EnsureRun(s, x.RunId);
                if (!s.Stage.IsAlive() && s.Stage != Stage.Building) return s; // e.g. killed after a pause or a sleep
                if (s.StoppedRunId == x.RunId) return s; // the exit that follows the run's own STOPPED
                var why = $"exit code {x.ExitCode}" + (x.Signal is null ? "" : $" ({x.Signal})")
                          + (string.IsNullOrWhiteSpace(x.StderrTail) ? "" : ": " + LastLine(x.StderrTail));
                if (x.ExitCode == 0 && s.Stage == Stage.Running)
                {
                    StageMachine.Ensure(s.Stage, Stage.Stopped, Actor.Runner, s.Id);
                    return Move(s, Stage.Stopped, e.AtMs);
                }
                return Fail(s, Actor.Runner, e.AtMs, x.ExitCode == 0 ? "the app exited during start-up" : why);
            }
            case HeartbeatsLost:
                if (!s.Stage.IsAlive()) return s;
                return Fail(s, Actor.Core, e.AtMs, $"no heartbeat for more than {Policy.HeartbeatLease.TotalSeconds:0} s after {Time.Format(e.AtMs)}")
                    with { LostHeartbeatsAtMs = e.AtMs };
            case HeartbeatsResumed:
                return s; // the fold skips the conclusion it voids
            case SleepDue:
                if (s.Stage != Stage.Running) return s;
                StageMachine.Ensure(s.Stage, Stage.Stopped, Actor.Core, s.Id);
                return Move(s, Stage.Stopped, e.AtMs) with { Asleep = true };
            case SmokeReported sm:
                return Smoke(s, sm);
            case SmokeLevelSet sl:
                if (!SmokeLevels.Contains(sl.Level)) throw Bad($"smoke level on upgrade must be quick or standard, got '{sl.Level}'");
                return s with { SmokeOnUpgrade = sl.Level };
            case DeleteRequested:
                StageMachine.Ensure(s.Stage, Stage.Deleting, Actor.Owner, s.Id);
                return Move(s, Stage.Deleting, e.AtMs);
            default:
                throw new InvalidOperationException($"unhandled event {e.GetType().Name}");
        }
    }

    private SpaceState ReportedStage(SpaceState s, StageReported sr)
    {
        var at = sr.AtMs;
        switch (sr.Stage)
        {
            case Stage.AppStarting:
            {
                var to = s.Stage is Stage.RunningBuilding or Stage.RunningAppStarting ? Stage.RunningAppStarting : Stage.AppStarting;
                StageMachine.Ensure(s.Stage, to, Actor.Runner, s.Id, s.Asleep);
                return Move(s, to, at) with { StoppedRunId = null };
            }
            case Stage.Running:
                StageMachine.Ensure(s.Stage, Stage.Running, Actor.Runner, s.Id);
                // The hardware it runs on is now the requested one (a hardware change completes here).
                return Move(s, Stage.Running, at) with { CurrentFlavor = s.RequestedFlavor };
            case Stage.Stopped:
                // The runner stopped its app because the core decided so (paused, asleep, deleted): recorded as what
                // the core decided, billing already closed at the decision.
                // (Building: the owner restarted it while this run was live.)
                if (s.Stage is Stage.Paused or Stage.Stopped or Stage.Deleting or Stage.Building) return s with { StoppedRunId = sr.RunId };
                // The old hardware's run stopped during a hardware change: wait for the run on the new hardware.
                if (s.Stage == Stage.RunningBuilding)
                {
                    StageMachine.Ensure(s.Stage, Stage.Building, Actor.Runner, s.Id);
                    return Move(s, Stage.Building, at) with { StoppedRunId = sr.RunId };
                }
                StageMachine.Ensure(s.Stage, Stage.Stopped, Actor.Runner, s.Id);
                return Move(s, Stage.Stopped, at) with { StoppedRunId = sr.RunId };
            case Stage.RuntimeError:
                if (s.Stage is Stage.Paused or Stage.RuntimeError) return s; // already failed and auto-paused
                StageMachine.Ensure(s.Stage, Stage.RuntimeError, Actor.Runner, s.Id);
                return Fail(s, Actor.Runner, at, sr.Message ?? "the runner reported a runtime error");
            default:
                throw Bad($"a runner may report APP_STARTING, RUNNING, STOPPED or RUNTIME_ERROR, not {sr.Stage.ToWire()}");
        }
    }

    /// <summary>
    /// A smoke report of the current run. A fault makes the run unbilled (<see cref="Rate"/>) unless the core received it
    /// only after the run was RUNNING (<see cref="SmokeReported.AfterRunning"/>); a clean report on the
    /// requested flavor is the new proven hardware. A report of another flavor (a late one of the old hardware)
    /// proves nothing new.
    /// </summary>
    private static SpaceState Smoke(SpaceState s, SmokeReported sm)
    {
        EnsureRun(s, sm.RunId);
        if (sm.Fault is not null) return s with { HardwareFault = new HardwareFault(sm.RunId, sm.Flavor, sm.Fault, sm.AtMs, sm.AfterRunning) };
        return sm.Flavor == s.RequestedFlavor && sm.Verdict is "PASS" or "WARN"
            ? s with { HardwareFault = null, Verified = new VerifiedHardware(sm.Flavor, sm.GpuUuids, sm.RunId, sm.AtMs) }
            : s with { HardwareFault = null };
    }

    private const string AutoPauseAfterCrash = "auto-paused after a runtime error: ";

    /// <summary>Failing: RUNTIME_ERROR, then paused automatically (so billing stops and it stays down). After a
    /// hardware fault of this run the failure is the platform's, and the reasons say so.</summary>
    private SpaceState Fail(SpaceState s, Actor by, long at, string why)
    {
        StageMachine.Ensure(s.Stage, Stage.RuntimeError, by, s.Id);
        var platform = s.HardwareFault is { } hf && hf.RunId == s.RunId ? $"platform hardware fault ({hf.Summary}); " : "";
        var failed = Move(s, Stage.RuntimeError, at) with { LastError = platform + why };
        StageMachine.Ensure(Stage.RuntimeError, Stage.Paused, Actor.Core, s.Id);
        return Move(failed, Stage.Paused, at) with
        {
            PauseReason = platform.Length > 0 ? "auto-paused after a " + platform + why : AutoPauseAfterCrash + why,
        };
    }

    /// <summary>A stage change; it ends sleep and a lost-heartbeats failure (the handlers set them again after), and
    /// a live stage ends "its run stopped" (that run's exit counts again).</summary>
    private static SpaceState Move(SpaceState s, Stage to, long at, bool force = false) =>
        s.Stage == to && !force ? s : s with
        {
            Stage = to, StageSinceMs = at, Asleep = false, LostHeartbeatsAtMs = null,
            StoppedRunId = to.IsAlive() ? null : s.StoppedRunId,
        };

    private static void EnsureRun(SpaceState s, string runId)
    {
        if (string.IsNullOrWhiteSpace(runId)) throw Bad("runId is required");
        if (s.RunId is not null && s.RunId != runId)
            throw new LifecycleException(LifecycleErrorKind.Stale,
                $"event for run '{runId}', but the current run of {s.Id} is '{s.RunId}' (register a new run with POST runs first)");
        if (s.RunId is null)
            throw new LifecycleException(LifecycleErrorKind.Conflict, $"run '{runId}' is not registered for {s.Id}; POST runs first");
    }

    /// <summary>Closes the open interval when billing stops or its rate changes, and opens one when it starts.</summary>
    private Step Meter(SpaceState s, long at)
    {
        var rate = Policy.BillableStages.Contains(s.Stage) ? Rate(s) : null;
        var open = s.Open;
        var closed = new List<UsageInterval>(1);
        if (open is not null && (rate is null || rate.Value.Billed != open.BilledFlavor || rate.Value.Hourly != open.HourlyMicroUsd
                                 || rate.Value.Requested != open.RequestedFlavor))
        {
            var end = Math.Max(at, open.StartMs);
            if (end > open.StartMs)
                closed.Add(new UsageInterval(s.Id, s.Uid, s.Owner, open.RequestedFlavor, open.BilledFlavor, open.HourlyMicroUsd, open.StartMs, end));
            open = null;
        }
        if (rate is { } r && open is null)
            open = new OpenInterval(at, r.Requested, r.Billed, r.Hourly);
        return new Step(s with { Open = open }, closed);
    }

    /// <summary>
    /// What the running Space is billed as. Normally its current flavor at its price. Mismatch rule: when the runner's
    /// device report shows other hardware than requested (<see cref="Detect"/>), bill the cheaper of the two; when it
    /// matches no flavor of this catalogue, bill nothing ("unmatched", $0) — the requested rate is never billed for
    /// hardware that was not delivered.
    /// </summary>
    public (string Requested, string Billed, long Hourly)? Rate(SpaceState s)
    {
        var id = s.CurrentFlavor ?? s.RequestedFlavor;
        // The run's own smoke test found the hardware faulty: the platform's fault, never billed.
        if (s.HardwareFault is { Billed: false } hf && hf.RunId == s.RunId) return (id, HardwareFaultBilled, 0);
        var current = Catalogue.Find(id);
        var price = current?.HourlyMicroUsd ?? 0;
        if (s.Mismatch is { } m && m.Requested == id)
        {
            var detected = Catalogue.Find(m.Detected);
            if (detected is null) return (id, Unmatched, 0);
            return detected.HourlyMicroUsd < price ? (id, detected.Id, detected.HourlyMicroUsd) : (id, id, price);
        }
        return (id, id, price);
    }

    /// <summary>
    /// The flavor a device report shows, decided with the core's own catalogue (README "Hardware mismatch rule"):
    /// from the report's facts, the flavors the hardware satisfies; the requested one if it is among them, else the
    /// runner's own tier name if it is among them, else the most expensive of them (what the hardware is at least
    /// worth; <see cref="Rate"/> then bills the cheaper of it and the requested one), else none (null: unmatched). Only a report without facts falls back to the
    /// runner's tier name, which comes from the runner's catalogue and may name flavors this core does not know.
    /// </summary>
    public (string? Flavor, string Summary) Detect(string requested, DeviceReported d)
    {
        var runnerSaid = d.DetectedFlavor is null ? "" : $" (the runner's catalogue says {d.DetectedFlavor})";
        if (d.Facts is not { } facts)
            return (d.DetectedFlavor, d.Summary ?? $"requested {requested}, the runner reports {d.DetectedFlavor ?? "no catalogue tier"}");
        var fits = Catalogue.Satisfied(facts);
        if (fits.Any(f => f.Id == requested)) return (requested, $"matches {requested}: {facts.Describe()}");
        // The runner's own name is taken when the facts bear it out (it may have seen figures the report leaves out);
        // otherwise the most the hardware is worth.
        var best = fits.FirstOrDefault(f => f.Id == d.DetectedFlavor)
                   ?? fits.OrderByDescending(f => f.HourlyMicroUsd).ThenBy(f => f.Id, StringComparer.Ordinal).FirstOrDefault();
        return best is null
            ? (null, $"requested {requested}, found {facts.Describe()}: no flavor of this core's catalogue{runnerSaid}")
            : (best.Id, $"requested {requested}, found {facts.Describe()}: {string.Join(", ", fits.Select(f => f.Id))} in this core's catalogue{runnerSaid}");
    }

    /// <summary>Effective sleep time in seconds; null = never sleeps.</summary>
    public long? EffectiveSleepSeconds(SpaceState s)
    {
        var flavor = Catalogue.Find(s.RequestedFlavor);
        if (flavor is null || flavor.IsFree) return (long)Policy.FreeSleep.TotalSeconds;
        return s.SleepSeconds is null or -1 ? null : s.SleepSeconds;
    }

    /// <summary>The time rule due at <paramref name="nowMs"/>, if any: lost heartbeats first, then sleep.</summary>
    public SpaceEvent? Due(SpaceState s, long nowMs)
    {
        if (s.Stage.IsAlive())
        {
            var evidence = Math.Max(Math.Max(s.LastHeartbeatAtMs ?? 0, s.StageSinceMs), s.RunStartedAtMs ?? 0);
            if (nowMs - evidence > (long)Policy.HeartbeatLease.TotalMilliseconds)
                return new HeartbeatsLost { AtMs = evidence };
        }
        if (s.Stage == Stage.Running && EffectiveSleepSeconds(s) is { } sleep)
        {
            var since = Math.Max(s.LastVisitAtMs ?? 0, s.StageSinceMs);
            var due = since + sleep * 1000;
            if (nowMs >= due) return new SleepDue { AtMs = due };
        }
        return null;
    }

    private void ValidateSleep(Flavor flavor, long? seconds, string id)
    {
        if (seconds is null) return;
        if (flavor.IsFree)
            throw new LifecycleException(LifecycleErrorKind.RuleBroken,
                $"{id}: {flavor.Id} sleeps after {Policy.FreeSleep.TotalHours:0} h without a visit and its sleep time cannot be set; upgrade the hardware to choose one");
        if (seconds != -1 && (seconds < Policy.MinSleepSeconds || seconds > Policy.MaxSleepSeconds))
            throw Bad($"sleep time must be -1 (never) or {Policy.MinSleepSeconds}..{Policy.MaxSleepSeconds} seconds, got {seconds}");
    }

    private static string LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var last = lines.Length == 0 ? "" : lines[^1];
        return last.Length > 200 ? last[..200] + "…" : last;
    }

    private static LifecycleException Bad(string message) => new(LifecycleErrorKind.BadInput, message);
}
