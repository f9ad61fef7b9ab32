using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

public class BillingTests
{
    [Fact]
    public void IssueScenario_RunSleepWakeRunFail_Bills120MinutesAt090()
    {
        // t4-medium runs 90 min, sleeps 30, wakes, runs 30, fails and is auto-paused.
        var d = new Driver("t4-medium", sleep: 3600).Up(0)
            .On(90, new SleepDue())                 // asleep at 90
            .On(120, new Visited())                 // a visit wakes it at 120
            .Stage(120, Stage.Running)
            .Stage(150, Stage.RuntimeError, message: "CUDA error");
        Assert.Equal(Stage.Paused, d.State.Stage);
        Assert.Contains("CUDA error", d.State.PauseReason);
        Assert.Null(d.State.Open);
        Assert.Equal(120 * 60_000, d.BilledMs);
        var inv = d.Invoice();
        var line = Assert.Single(inv.Lines);
        Assert.Equal(120, line.Minutes);
        Assert.Equal(1_800_000, line.ChargedMicroUsd);
        Assert.Equal(1_800_000, inv.OwedMicroUsd);
        Assert.Equal("$1.80", Money.Format(inv.OwedMicroUsd));
    }

    [Fact]
    public void NothingBilledWhileBuildingStartingSleepingOrPaused()
    {
        var d = new Driver("a10g-small", sleep: 600).StartRun(0).Stage(0, Stage.AppStarting); // starting 0..30
        d.Stage(30, Stage.Running);                                                           // running 30..40
        d.On(40, new SleepDue());                                                             // asleep 40..60
        d.On(60, new Visited()).Stage(70, Stage.Running);                                      // starting 60..70, running 70..80
        d.On(80, new PauseRequested(false, null));                                            // paused after
        Assert.Equal(20 * 60_000, d.BilledMs);
        Assert.All(d.Closed, i => Assert.Equal(1_050_000, i.HourlyMicroUsd));
    }

    [Fact]
    public void StartupIsBillableWhenThePolicySaysSo()
    {
        var policy = LifecyclePolicy.Default with { BillableStages = new HashSet<Stage> { Stage.Running, Stage.AppStarting } };
        var d = new Driver("t4-small", policy: policy).StartRun(0).Stage(0, Stage.AppStarting).Stage(10, Stage.Running)
            .On(20, new PauseRequested(false, null));
        Assert.Equal(20 * 60_000, d.BilledMs);
    }

    [Fact]
    public void HardwareChangeBillsTheOldRunAtTheOldPriceUntilTheNewOneRuns()
    {
        // The old hardware keeps serving (RUNNING_BUILDING, RUNNING_APP_STARTING) and is billed as it until the run on
        // the new hardware is RUNNING.
        var d = new Driver("t4-small").Up(0).On(60, new HardwareRequested("a10g-large", null));
        Assert.Empty(d.Closed);
        Assert.Equal("t4-small", d.State.Open!.BilledFlavor);
        d.StartRun(61, "r2").Stage(61, Stage.AppStarting, "r2").Stage(62, Stage.Running, "r2");
        var first = Assert.Single(d.Closed);
        Assert.Equal(("t4-small", 600_000L, 62 * 60_000L), (first.BilledFlavor, first.HourlyMicroUsd, first.Ms));
        Assert.Equal(("a10g-large", 3_150_000L, Driver.At(62)), (d.State.Open!.BilledFlavor, d.State.Open.HourlyMicroUsd, d.State.Open.StartMs));
        d.On(122, new PauseRequested(false, null));
        var inv = d.Invoice();
        Assert.Equal(620_000 + 3_150_000, inv.ChargedMicroUsd);
    }

    [Fact]
    public void HardwareChangeStopsBillingWhenTheOldRunSaysItStopped()
    {
        var d = new Driver("t4-small").Up(0).On(60, new HardwareRequested("a10g-large", null)).Stage(70, Stage.Stopped);
        Assert.Equal(Stage.Building, d.State.Stage); // waiting for a run on the new hardware
        Assert.Null(d.State.Open);
        Assert.Equal(70 * 60_000L, Assert.Single(d.Closed).Ms);
        d.On(71, new RunExited("r1", 143, "SIGTERM", null)); // its exit after the STOPPED is no failure
        Assert.Equal(Stage.Building, d.State.Stage);
        Assert.Null(d.State.LastError);
    }

    [Fact]
    public void SwitchingToCpuBasicStopsPaidBilling()
    {
        var d = new Driver("t4-medium").Up(0).On(30, new HardwareRequested("cpu-basic", null))
            .StartRun(31, "r2").Stage(31, Stage.AppStarting, "r2").Stage(32, Stage.Running, "r2")
            .On(32 + 600, new PauseRequested(false, null));
        var inv = d.Invoice();
        Assert.Equal(480_000, inv.OwedMicroUsd); // 32 min of t4-medium (until cpu-basic runs); the 600 min of cpu-basic cost 0
        Assert.Contains(inv.Lines, l => l.Flavor == "cpu-basic" && l.Minutes == 600 && l.ChargedMicroUsd == 0);
    }

    [Fact]
    public void LostHeartbeatsFailAndAutoPauseClosingAtLastEvidence()
    {
        var d = new Driver("t4-small").Up(0);
        d = d.On(0, new RunStarted("r1", null)); // no-op re-registration keeps it running
        var s = SpaceMachine.Heartbeat(d.State, Driver.At(45));
        Assert.Null(d.Machine.Due(s, Driver.At(46)));
        var due = d.Machine.Due(s, Driver.At(50));
        var lost = Assert.IsType<HeartbeatsLost>(due);
        Assert.Equal(Driver.At(45), lost.AtMs);
        var step = d.Machine.Apply(s, lost);
        Assert.Equal(Stage.Paused, step.State.Stage);
        Assert.Contains("no heartbeat", step.State.LastError);
        Assert.Equal(45 * 60_000, Assert.Single(step.Closed).Ms);
    }

    [Fact]
    public void ExitNonZeroFailsAndAutoPausesExitZeroStops()
    {
        var d = new Driver().Up(0).On(10, new RunExited("r1", 137, "SIGKILL", "line1\nKilled"));
        Assert.Equal(Stage.Paused, d.State.Stage);
        Assert.Contains("exit code 137 (SIGKILL): Killed", d.State.LastError);
        var ok = new Driver().Up(0).On(10, new RunExited("r1", 0, null, null));
        Assert.Equal(Stage.Stopped, ok.State.Stage);
        Assert.Equal(10 * 60_000, ok.BilledMs);
    }

    [Fact]
    public void ExitAfterPauseChangesNothing()
    {
        var d = new Driver().Up(0).On(10, new PauseRequested(false, null)).On(11, new RunExited("r1", 137, null, null));
        Assert.Equal("paused by the owner", d.State.PauseReason);
    }

    [Fact]
    public void MismatchBillsTheCheaperDetectedFlavorAndIsRecorded()
    {
        var d = new Driver("a10g-small").StartRun(0)
            .On(0, new DeviceReported("r1", "t4-small", "found 1x T4 16 GB"))
            .Stage(0, Stage.AppStarting).Stage(0, Stage.Running).On(60, new PauseRequested(false, null));
        Assert.Equal(new HardwareMismatch("a10g-small", "t4-small", "found 1x T4 16 GB", Driver.At(0)), d.State.Mismatch);
        var i = Assert.Single(d.Closed);
        Assert.Equal(("a10g-small", "t4-small", 600_000L), (i.RequestedFlavor, i.BilledFlavor, i.HourlyMicroUsd));
    }

    [Fact]
    public void MismatchWithMoreExpensiveHardwareBillsTheRequestedRate()
    {
        var d = new Driver("t4-small").StartRun(0).On(0, new DeviceReported("r1", "a100-large", null))
            .Stage(0, Stage.AppStarting).Stage(0, Stage.Running).On(60, new PauseRequested(false, null));
        Assert.NotNull(d.State.Mismatch);
        Assert.Equal(600_000, Assert.Single(d.Closed).HourlyMicroUsd);
    }

    [Fact]
    public void MismatchWithUnknownHardwareBillsNothing()
    {
        var d = new Driver("a10g-small").StartRun(0).On(0, new DeviceReported("r1", null, "no tier matches: 1x H200"))
            .Stage(0, Stage.AppStarting).Stage(0, Stage.Running).On(60, new PauseRequested(false, null));
        var i = Assert.Single(d.Closed);
        Assert.Equal((SpaceMachine.Unmatched, 0L), (i.BilledFlavor, i.HourlyMicroUsd));
        Assert.Equal(0, d.Invoice().OwedMicroUsd);
    }

    [Fact]
    public void MismatchReportedMidRunSplitsTheInterval()
    {
        var d = new Driver("a10g-small").Up(0).On(30, new DeviceReported("r1", "t4-small", null)).On(60, new PauseRequested(false, null));
        Assert.Equal(new[] { ("a10g-small", 30L), ("t4-small", 30L) }, d.Closed.Select(i => (i.BilledFlavor, i.Ms / 60_000)));
        var matching = new Driver("a10g-small").StartRun(0).On(0, new DeviceReported("r1", "a10g-small", null));
        Assert.Null(matching.State.Mismatch);
    }

    [Fact]
    public void GrantRecordsChargesButOwesNothingInsideItsWindow()
    {
        var d = new Driver("a10g-small").Up(0).On(120, new PauseRequested(false, null));
        var grant = new Grant("alice/app", "a10g-small", Driver.At(0), Driver.At(60));
        var inv = d.Invoice([grant]);
        var line = Assert.Single(inv.Lines);
        Assert.Equal(2_100_000, line.ChargedMicroUsd);
        Assert.Equal(1_050_000, line.GrantedMicroUsd);
        Assert.Equal(1_050_000, line.OwedMicroUsd);
        var full = d.Invoice([grant with { ToMs = Driver.At(1000) }, grant]); // overlapping grants never double-count
        Assert.Equal(0, full.OwedMicroUsd);
        Assert.Equal(2_100_000, full.GrantedMicroUsd);
        var otherFlavor = d.Invoice([grant with { Flavor = "t4-small" }]);
        Assert.Equal(2_100_000, otherFlavor.OwedMicroUsd);
    }

    [Fact]
    public void PeriodClipsIntervals()
    {
        var d = new Driver("t4-medium").Up(0).On(120, new PauseRequested(false, null));
        var inv = d.Invoice(from: Driver.At(60), to: Driver.At(90));
        Assert.Equal(30, Assert.Single(inv.Lines).Minutes);
    }
}
