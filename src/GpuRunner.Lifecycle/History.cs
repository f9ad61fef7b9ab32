namespace GpuRunner.Lifecycle;

/// <summary>A state event as a Space's history keeps it: the event and its arrival number (the store's sequence),
/// which only breaks ties between events of the same instant and the same rank.</summary>
public sealed record LoggedEvent(SpaceEvent Event, long Arrival);

/// <summary>One ledger movement: +1 books a metered interval, -1 compensates one booked before.</summary>
public sealed record LedgerEntry(UsageInterval Interval, int Sign);

/// <summary>A state event that does not fit where it falls in the history, and why (it stays stored and is applied
/// by a later fold if events that make it fit arrive).</summary>
public sealed record HeldEvent(LoggedEvent Event, LifecycleException Why);

/// <summary>The fold of a whole history: the state, every interval it closed, and the events it had to hold.</summary>
public sealed record Fold(SpaceState State, IReadOnlyList<UsageInterval> Closed, IReadOnlyList<HeldEvent> Held);

/// <summary>What receiving one event does: the new state, the ledger rows to append, and, when the event does not
/// fit (yet), why it is held. <see cref="Replayed"/>: the history was re-folded (the event was not the newest).</summary>
public sealed record Receipt(SpaceState State, IReadOnlyList<LedgerEntry> Ledger, LifecycleException? Held, bool Replayed);

/// <summary>
/// The canonical order of a Space's history: by the time the event happened (`at`), then by rank, then by arrival.
/// Ranks only matter between events of the same millisecond: the owner's and visitors' actions first (they cause
/// what a runner does next, e.g. a visit wakes a Space and a new run reports), then a run's own events in the order a
/// runner makes them (registers, reports its device, starts, is ready, stops, exits), then the core clock's rules
/// (lost heartbeats, sleep: conclusions from the runner's silence, so its own report of that instant wins). Delivery
/// order never enters except between two events of the same instant and rank, which is what makes the state a
/// function of the *set* of received events.
/// </summary>
public static class EventOrder
{
    public static int Rank(SpaceEvent e) => e switch
    {
        Created => 0,
        HardwareRequested or SleepTimeSet or PauseRequested or RestartRequested or Visited or DeleteRequested => 1,
        RunStarted => 2,
        DeviceReported => 3,
        StageReported { Stage: Stage.AppStarting } => 4,
        StageReported { Stage: Stage.Running } => 5,
        StageReported => 6,
        RunExited => 7,
        _ => 8, // HeartbeatsLost, SleepDue
    };

    public static readonly IComparer<LoggedEvent> Comparer = Comparer<LoggedEvent>.Create((a, b) =>
    {
        var c = a.Event.AtMs.CompareTo(b.Event.AtMs);
        if (c == 0) c = Rank(a.Event).CompareTo(Rank(b.Event));
        return c != 0 ? c : a.Arrival.CompareTo(b.Arrival);
    });
}

/// <summary>The append-only ledger's arithmetic: what to append so that its net content becomes what a fold closed.</summary>
public static class Ledger
{
    /// <summary>
    /// Net of <paramref name="recorded"/> per interval, compared with <paramref name="wanted"/> (a multiset): a −1 for
    /// each interval booked too often, a +1 for each missing one. Intervals that did not change get no row.
    /// </summary>
    public static IReadOnlyList<LedgerEntry> Reconcile(IEnumerable<LedgerEntry> recorded, IEnumerable<UsageInterval> wanted)
    {
        var net = new Dictionary<UsageInterval, int>();
        foreach (var r in recorded) net[r.Interval] = net.GetValueOrDefault(r.Interval) + r.Sign;
        var want = new Dictionary<UsageInterval, int>();
        foreach (var i in wanted) want[i] = want.GetValueOrDefault(i) + 1;
        var rows = new List<LedgerEntry>();
        // Compensations first, then the corrected rows; each group in time order (a readable ledger).
        foreach (var key in net.Keys.Union(want.Keys).OrderBy(k => want.GetValueOrDefault(k) - net.GetValueOrDefault(k) > 0).ThenBy(k => k.StartMs).ThenBy(k => k.EndMs))
        {
            var delta = want.GetValueOrDefault(key) - net.GetValueOrDefault(key);
            for (var k = 0; k < Math.Abs(delta); k++) rows.Add(new LedgerEntry(key, Math.Sign(delta)));
        }
        return rows;
    }

    /// <summary>The net content: each interval with how many times it is booked (zero-net intervals left out).</summary>
    public static IReadOnlyDictionary<UsageInterval, int> Net(IEnumerable<LedgerEntry> rows)
    {
        var net = new Dictionary<UsageInterval, int>();
        foreach (var r in rows) net[r.Interval] = net.GetValueOrDefault(r.Interval) + r.Sign;
        foreach (var k in net.Where(p => p.Value == 0).Select(p => p.Key).ToList()) net.Remove(k);
        return net;
    }
}
