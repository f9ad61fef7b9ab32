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
/// The canonical order of a Space's history: by the time the event happened (`at`). Events of the same millisecond:
/// the core clock's rules (lost heartbeats, sleep) last — they are conclusions from a runner's silence, so its own
/// report of that instant wins; the rest in arrival order, except that the events of one run take the places they
/// occupy in the order a runner makes them (registers, reports its device, starts, is ready, stops, exits), however
/// they arrived. So delivery order only matters between different sources in the same millisecond, where nothing
/// else can tell which came first, and the state is a function of the *set* of received events otherwise.
/// </summary>
public static class EventOrder
{
    /// <summary>A run's own order of its events.</summary>
    public static int Rank(SpaceEvent e) => e switch
    {
        RunStarted => 0,
        DeviceReported => 1,
        StageReported { Stage: Stage.AppStarting } => 2,
        SmokeReported => 3, // the smoke runs in APP_STARTING, before the app can be RUNNING
        StageReported { Stage: Stage.Running } => 4,
        StageReported => 5,
        GpuReported => 5,
        RunExited => 6,
        _ => 7,
    };

    public static string? RunOf(SpaceEvent e) => e switch
    {
        RunStarted r => r.RunId, DeviceReported d => d.RunId, StageReported s => s.RunId, RunExited x => x.RunId,
        SmokeReported sm => sm.RunId, GpuReported g => g.RunId, _ => null,
    };

    private static int Class(SpaceEvent e) => e switch { Created => 0, HeartbeatsLost or SleepDue or HeartbeatsResumed => 2, _ => 1 };

    /// <summary>Sorts <paramref name="events"/> into the canonical order, in place.</summary>
    public static void Sort(List<LoggedEvent> events)
    {
        events.Sort((a, b) =>
        {
            var c = a.Event.AtMs.CompareTo(b.Event.AtMs);
            if (c == 0) c = Class(a.Event).CompareTo(Class(b.Event));
            return c != 0 ? c : a.Arrival.CompareTo(b.Arrival);
        });
        // Within each instant, each run's events go into the slots they hold, in the run's own order.
        for (var start = 0; start < events.Count;)
        {
            var end = start + 1;
            while (end < events.Count && events[end].Event.AtMs == events[start].Event.AtMs) end++;
            if (end - start > 1)
                foreach (var run in events.Skip(start).Take(end - start).Select(x => RunOf(x.Event)).Where(r => r is not null).Distinct().ToList())
                {
                    var slots = Enumerable.Range(start, end - start).Where(i => RunOf(events[i].Event) == run).ToList();
                    var inOrder = slots.Select(i => events[i]).OrderBy(x => Rank(x.Event)).ThenBy(x => x.Arrival).ToList();
                    for (var k = 0; k < slots.Count; k++) events[slots[k]] = inOrder[k];
                }
            start = end;
        }
    }
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
