using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

/// <summary>Drives one Space through events on a fake timeline (minutes from t0) and collects closed intervals.</summary>
internal sealed class Driver
{
    public static readonly long T0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    public SpaceMachine Machine { get; }
    public SpaceState State { get; private set; }
    public List<UsageInterval> Closed { get; } = [];
    public List<SpaceEvent> History { get; } = [];

    public Driver(string flavor = "t4-medium", long? sleep = null, LifecyclePolicy? policy = null, string owner = "alice")
    {
        Machine = new SpaceMachine(HardwareCatalogue.Default, policy ?? LifecyclePolicy.Default);
        var created = new Created(owner, "gradio", flavor, sleep, "uid-1") { AtMs = T0 };
        State = Machine.Create("alice/app", created);
        History.Add(created);
    }

    public static long At(double minutes) => T0 + (long)(minutes * 60_000);

    public Driver On(double minute, SpaceEvent e)
    {
        e = e with { AtMs = At(minute) };
        var step = Machine.Apply(State, e);
        State = step.State;
        Closed.AddRange(step.Closed);
        History.Add(e);
        return this;
    }

    public Driver Stage(double minute, Stage stage, string run = "r1", string? message = null) =>
        On(minute, new StageReported(run, stage, message));

    public Driver StartRun(double minute, string run = "r1") => On(minute, new RunStarted(run, "host"));

    /// <summary>Registers a run and brings it to RUNNING at <paramref name="minute"/>.</summary>
    public Driver Up(double minute, string run = "r1") =>
        StartRun(minute, run).Stage(minute, Lifecycle.Stage.AppStarting, run).Stage(minute, Lifecycle.Stage.Running, run);

    public long BilledMs => Closed.Sum(i => i.Ms);

    public Invoice Invoice(IEnumerable<Grant>? grants = null, long from = long.MinValue / 4, long to = long.MaxValue / 4)
    {
        var g = (grants ?? []).ToArray();
        var totals = Closed.Select(i => new UsageTotal(i.SpaceId, i.Owner, i.BilledFlavor, i.HourlyMicroUsd,
            Invoicing.Overlap(i.StartMs, i.EndMs, from, to),
            Invoicing.GrantedMs(i.SpaceId, i.RequestedFlavor, i.StartMs, i.EndMs, from, to, g)));
        return Invoicing.Build("test", from, to, totals, false);
    }
}
