using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

/// <summary>
/// Late and out-of-order delivery: whatever order the events of one scenario arrive in, the Space ends in the same
/// state with the same net ledger as in-order delivery (SpaceMachine.Receive, the algorithm the core runs).
/// </summary>
public class OutOfOrderTests
{
    /// <summary>What the core's store does around <see cref="SpaceMachine.Receive"/>, in memory: dedup on the event
    /// id, the stored history (arrival-numbered), the append-only ledger, heartbeats as a max.</summary>
    private sealed class Store
    {
        private readonly SpaceMachine _m;
        private readonly List<LoggedEvent> _history = [];
        private readonly HashSet<string> _seen = [];
        private long _arrival;
        public SpaceState State { get; private set; }
        public List<LedgerEntry> Rows { get; } = [];
        public int Held { get; private set; }

        public Store(SpaceMachine m, string flavor = "t4-medium")
        {
            _m = m;
            var created = new Created("alice", "gradio", flavor, null, "uid-1") { AtMs = Driver.T0 };
            State = m.Create("alice/app", created);
            _history.Add(new LoggedEvent(created, ++_arrival));
        }

        public void Deliver(Ev ev)
        {
            if (!_seen.Add(ev.Id)) return; // a retry: acknowledged, not applied again
            if (ev.Event is null) { State = SpaceMachine.Heartbeat(State, ev.AtMs); return; }
            var r = _m.Receive(State, ev.Event, ev.FromRunner, () => _history, () => Rows);
            _history.Add(new LoggedEvent(ev.Event, ++_arrival));
            State = r.State;
            Rows.AddRange(r.Ledger);
            if (r.Held is not null) Held++;
        }

        public IReadOnlyDictionary<UsageInterval, int> Net => Ledger.Net(Rows);
        public Fold Refold() => _m.Fold(State.Id, _history);
    }

    /// <summary>One delivery: a state event (runner's or the core's), or a heartbeat when Event is null.</summary>
    private sealed record Ev(string Id, SpaceEvent? Event, long AtMs, bool FromRunner = true)
    {
        public override string ToString() => $"{Id}@{(AtMs - Driver.T0) / 60_000.0}";
    }

    private static Ev E(string id, double minute, SpaceEvent e, bool runner = true) => new(id, e with { AtMs = Driver.At(minute) }, Driver.At(minute), runner);
    private static Ev Hb(string id, double minute) => new(id, null, Driver.At(minute));

    private static readonly SpaceMachine M = new(HardwareCatalogue.Default, LifecyclePolicy.Default);

    /// <summary>t4-medium requested, the runner's device report says t4-small (billed as such from then), a crash.</summary>
    private static readonly Ev[] Crash =
    [
        E("runs", 0, new RunStarted("r1", "h")),
        E("device", 1, new DeviceReported("r1", "t4-small", "1x T4")),
        E("starting", 1, new StageReported("r1", Stage.AppStarting, null)),
        E("running", 5, new StageReported("r1", Stage.Running, null)),
        E("error", 40, new StageReported("r1", Stage.RuntimeError, "CUDA error")),
        E("exit", 40, new RunExited("r1", 1, null, "Traceback")),
    ];

    /// <summary>Two runs: a clean stop, a visit wakes the Space (a core event, not the runner's), a crash.</summary>
    private static readonly Ev[] TwoRuns =
    [
        E("r1-runs", 0, new RunStarted("r1", "h")),
        E("r1-starting", 0, new StageReported("r1", Stage.AppStarting, null)),
        E("r1-running", 2, new StageReported("r1", Stage.Running, null)),
        Hb("r1-hb", 20),
        E("r1-stopped", 30, new StageReported("r1", Stage.Stopped, null)),
        E("r1-exit", 30, new RunExited("r1", 0, null, null)),
        E("visit", 35, new Visited(), runner: false),
        E("r2-runs", 36, new RunStarted("r2", "h")),
        E("r2-starting", 37, new StageReported("r2", Stage.AppStarting, null)),
        E("r2-running", 38, new StageReported("r2", Stage.Running, null)),
        Hb("r2-hb", 80),
        E("r2-exit", 90, new RunExited("r2", 137, "SIGKILL", null)),
    ];

    private static Store InOrder(Ev[] scenario)
    {
        var s = new Store(M);
        foreach (var ev in scenario) s.Deliver(ev);
        Assert.Equal(0, s.Held);
        Assert.All(s.Rows, r => Assert.Equal(1, r.Sign)); // in order: no compensation ever
        return s;
    }

    private static void AssertSame(Store expected, Store actual, string order)
    {
        Assert.True(expected.State == actual.State, $"state differs after {order}:\n{expected.State}\n{actual.State}");
        Assert.True(expected.Net.OrderBy(p => p.Key.StartMs).SequenceEqual(actual.Net.OrderBy(p => p.Key.StartMs)),
            $"net ledger differs after {order}: [{string.Join("; ", actual.Net)}]");
        Assert.Empty(actual.Refold().Held); // the complete history fits, nothing is left waiting
    }

    [Fact]
    public void InOrderCrashScenarioBillsTheDetectedCheaperTierUntilTheError()
    {
        var s = InOrder(Crash);
        Assert.Equal(Stage.Paused, s.State.Stage);
        var row = Assert.Single(s.Rows);
        Assert.Equal(("t4-small", Driver.At(5), Driver.At(40)), (row.Interval.BilledFlavor, row.Interval.StartMs, row.Interval.EndMs));
    }

    [Fact]
    public void EveryPermutationOfTheCrashScenarioEndsInTheSameStateAndLedger()
    {
        var expected = InOrder(Crash);
        var compensated = 0;
        var permutations = 0;
        foreach (var order in Permutations(Crash))
        {
            var s = new Store(M);
            foreach (var ev in order) s.Deliver(ev);
            AssertSame(expected, s, string.Join(", ", order));
            if (s.Rows.Any(r => r.Sign < 0)) compensated++;
            permutations++;
        }
        Assert.Equal(720, permutations);
        Assert.True(compensated > 0, "some orders must book and then compensate (the replay path is exercised)");
    }

    [Fact]
    public void RandomOrdersOfTwoRunsWithRetriesEndInTheSameStateAndLedger()
    {
        var expected = InOrder(TwoRuns);
        Assert.Equal(Stage.Paused, expected.State.Stage);
        Assert.Equal(Driver.At(80), expected.State.LastHeartbeatAtMs);
        Assert.Equal([28 * 60_000L, 52 * 60_000L], expected.Net.Keys.OrderBy(k => k.StartMs).Select(k => k.Ms));
        var rng = new Random(20261128);
        for (var i = 0; i < 3000; i++)
        {
            // Each event is delivered once or twice (a retry after a lost answer), in a random order.
            var order = TwoRuns.Concat(TwoRuns.Where(_ => rng.Next(4) == 0)).OrderBy(_ => rng.Next()).ToArray();
            var s = new Store(M);
            foreach (var ev in order) s.Deliver(ev);
            AssertSame(expected, s, string.Join(", ", order));
        }
    }

    [Fact]
    public void AnEventThatNeverFitsIsHeldAndChangesNothing()
    {
        var s = new Store(M);
        foreach (var ev in Crash.Take(4)) s.Deliver(ev); // running since 5
        s.Deliver(E("pause", 10, new PauseRequested(false, null), runner: false));
        var before = (s.State, s.Rows.Count);
        s.Deliver(E("late-running", 12, new StageReported("r1", Stage.Running, null))); // after the pause: never fits
        Assert.Equal(1, s.Held);
        Assert.Equal(before.State with { LastStateEventAtMs = Driver.At(12), HeldCount = 1 }, s.State);
        Assert.Equal(before.Count, s.Rows.Count);
        var held = Assert.Single(s.Refold().Held);
        Assert.Equal(LifecycleErrorKind.IllegalTransition, held.Why.Kind);
    }

    [Fact]
    public void OwnerAndCoreEventsAreRefusedNotHeld()
    {
        var s = InOrder(Crash); // paused at 40
        var at = Driver.At(41);
        var x = Assert.Throws<LifecycleException>(() => M.Receive(s.State, new StageReported("r1", Stage.Running, null) { AtMs = at }, false, () => [], () => []));
        Assert.Equal(LifecycleErrorKind.IllegalTransition, x.Kind);
        // An event dated before the Space existed is refused either way.
        Assert.Equal(LifecycleErrorKind.Stale, Assert.Throws<LifecycleException>(() =>
            M.Receive(s.State, new Visited { AtMs = Driver.T0 - 1 }, true, () => [], () => [])).Kind);
    }

    [Fact]
    public void CanonicalOrderPutsARunsOwnEventsOfOneInstantInTheOrderItMadeThem()
    {
        var t = Driver.At(1);
        SpaceEvent[] made = [new RunStarted("r", null), new DeviceReported("r", null, null), new StageReported("r", Stage.AppStarting, null),
            new StageReported("r", Stage.Running, null), new StageReported("r", Stage.Stopped, null), new RunExited("r", 0, null, null)];
        var logged = made.Select((e, i) => new LoggedEvent(e with { AtMs = t }, 100 - i)).ToList(); // arrival reversed
        EventOrder.Sort(logged);
        Assert.Equal(made.Select(e => e with { AtMs = t }), logged.Select(l => l.Event));
    }

    [Fact]
    public void CanonicalOrderKeepsArrivalBetweenSourcesOfOneInstantAndPutsTheClocksRulesLast()
    {
        var t = Driver.At(1);
        LoggedEvent L(SpaceEvent e, long arrival) => new(e with { AtMs = t }, arrival);
        var list = new List<LoggedEvent>
        {
            L(new HeartbeatsLost(), 1),                                   // the clock's conclusion: after the runner's events
            L(new StageReported("r1", Stage.Running, null), 2),
            L(new HardwareRequested("a10g-small", null), 3),              // the owner, between two runs
            L(new StageReported("r2", Stage.AppStarting, null), 4),
            L(new RunStarted("r2", null), 5),                             // r2's own order: runs before APP_STARTING
            L(new StageReported("r1", Stage.AppStarting, null), 6),       // r1's: APP_STARTING before RUNNING
            L(new Created("alice", "gradio", "t4-small", null, "u") , 7),
        };
        EventOrder.Sort(list);
        Assert.Equal([7, 6, 3, 5, 4, 2, 1], list.Select(x => x.Arrival));
    }

    [Fact]
    public void ReconcileBooksOnlyTheDifference()
    {
        UsageInterval I(long a, long b) => new("s", "u", "o", "f", "f", 1, a, b);
        var recorded = new[] { new LedgerEntry(I(0, 10), 1), new LedgerEntry(I(10, 20), 1) };
        var rows = Ledger.Reconcile(recorded, [I(0, 10), I(10, 25)]);
        Assert.Equal([new LedgerEntry(I(10, 20), -1), new LedgerEntry(I(10, 25), 1)], rows);
        Assert.Empty(Ledger.Reconcile(recorded.Concat(rows), [I(0, 10), I(10, 25)]));
    }

    private static IEnumerable<Ev[]> Permutations(Ev[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (var i = 0; i < items.Length; i++)
            foreach (var rest in Permutations([.. items[..i], .. items[(i + 1)..]]))
                yield return [items[i], .. rest];
    }
}
