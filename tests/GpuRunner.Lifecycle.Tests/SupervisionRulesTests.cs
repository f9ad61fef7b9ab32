using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

/// <summary>The rules behind the runner's supervision: stops the core decided, container restarts, sleep, evidence.</summary>
public class SupervisionRulesTests
{
    [Fact]
    public void TheRunnersStopAfterAPauseIsRecordedAsThePauseNotAsACrash()
    {
        var d = new Driver().Up(0).On(10, new PauseRequested(false, null));
        d.Stage(10.1, Stage.Stopped, message: "stopped: the Space was paused").On(10.1, new RunExited("r1", 143, "SIGTERM", null));
        Assert.Equal(Stage.Paused, d.State.Stage);
        Assert.Equal("paused by the owner", d.State.PauseReason);
        Assert.Null(d.State.LastError);
        Assert.Equal(10 * 60_000L, Assert.Single(d.Closed).Ms); // closed at the decision, not at the runner's stop
    }

    [Fact]
    public void AContainerRestartAfterACleanStopIsANewBilledRun()
    {
        var d = new Driver().Up(0).Stage(5, Stage.Stopped).On(5, new RunExited("r1", 0, null, null));
        d.StartRun(6, "r2").Stage(6, Stage.AppStarting, "r2").Stage(7, Stage.Running, "r2").On(9, new PauseRequested(false, null));
        Assert.Equal(new[] { 5 * 60_000L, 2 * 60_000L }, d.Closed.Select(i => i.Ms));
    }

    [Fact]
    public void AnAsleepSpaceIsWokenByAVisitNotByARunner()
    {
        var d = new Driver(sleep: 3600).Up(0).On(60, new SleepDue());
        Assert.True(d.State.Asleep);
        var x = Assert.Throws<LifecycleException>(() => d.StartRun(61, "r2").Stage(61, Stage.AppStarting, "r2"));
        Assert.Contains("asleep", x.Message);
        d.On(62, new Visited());
        Assert.False(d.State.Asleep);
        d.Stage(62, Stage.AppStarting, "r2").Stage(63, Stage.Running, "r2");
        Assert.Equal(Stage.Running, d.State.Stage);
    }

    [Fact]
    public void AStopDatedBeforeTheLastHeartbeatIsRecordedAtTheHeartbeat()
    {
        var d = new Driver().Up(0);
        var s = SpaceMachine.Heartbeat(d.State, Driver.At(60));
        var claim = new StageReported("r1", Stage.Stopped, null) { AtMs = Driver.At(0.02) };
        var e = SpaceMachine.ClampToEvidence(s, claim);
        Assert.Equal((Driver.At(60), (long?)Driver.At(0.02)), (e.AtMs, e.ClaimedAtMs));
        Assert.Equal(60 * 60_000L, Assert.Single(d.Machine.Apply(s, e).Closed).Ms);
        // A stop after the evidence, or another run's stop, is taken as it is.
        var later = claim with { AtMs = Driver.At(61) };
        Assert.Same(later, SpaceMachine.ClampToEvidence(s, later));
        var other = new StageReported("r0", Stage.Stopped, null) { AtMs = Driver.At(1) };
        Assert.Same(other, SpaceMachine.ClampToEvidence(s, other));
    }

    [Fact]
    public void AHeartbeatProvingTheRunWasAliveVoidsTheLostHeartbeatsConclusion()
    {
        var m = new SpaceMachine(HardwareCatalogue.Default, LifecyclePolicy.Default);
        var d = new Driver().Up(0).On(10, new HeartbeatsLost());
        Assert.True(d.State.Paused);
        Assert.Equal(Driver.At(10), d.State.LostHeartbeatsAtMs);
        var history = d.History.Select((e, i) => new LoggedEvent(e, i)).ToList();
        var r = m.Receive(d.State, new HeartbeatsResumed(Driver.At(10)) { AtMs = Driver.At(10) }, false, () => history,
            () => d.Closed.Select(i => new LedgerEntry(i, +1)));
        Assert.Equal(Stage.Running, r.State.Stage);
        Assert.Null(r.State.LastError);
        Assert.Equal(Driver.At(0), r.State.Open!.StartMs); // billing never stopped
        Assert.Equal(-1, Assert.Single(r.Ledger).Sign); // the interval closed by the conclusion is compensated

        // The owner's decision during the silence stays: reconciled to it, billed up to it.
        var paused = new Driver().Up(0).On(10, new HeartbeatsLost()).On(20, new PauseRequested(false, null));
        var h2 = paused.History.Select((e, i) => new LoggedEvent(e, i)).ToList();
        var r2 = m.Receive(paused.State, new HeartbeatsResumed(Driver.At(10)) { AtMs = Driver.At(10) }, false, () => h2,
            () => paused.Closed.Select(i => new LedgerEntry(i, +1)));
        Assert.Equal(("paused by the owner", (string?)null), (r2.State.PauseReason, r2.State.LastError));
        Assert.Equal(20 * 60_000L, Ledger.Net(r2.Ledger.Concat(paused.Closed.Select(i => new LedgerEntry(i, +1)))).Keys.Single().Ms);
    }

    [Fact]
    public void AnExitAfterTheRunsOwnStopChangesNothingUntilTheRunIsLiveAgain()
    {
        var d = new Driver().Up(0).Stage(10, Stage.Stopped).On(10, new RunExited("r1", 143, "SIGTERM", null));
        Assert.Equal((Stage.Stopped, (string?)null), (d.State.Stage, d.State.LastError));
        d.On(20, new Visited()).Stage(20, Stage.Running).On(30, new RunExited("r1", 1, null, "boom"));
        Assert.True(d.State.Paused); // a crash of the woken run is a crash
        Assert.Contains("boom", d.State.LastError);
    }
}
