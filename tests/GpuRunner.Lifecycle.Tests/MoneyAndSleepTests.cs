using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

public class MoneyTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(60_000, 1)]
    [InlineData(60_001, 2)]
    [InlineData(5_400_000, 90)]
    public void MinutesRoundUpPerLine(long ms, long minutes) => Assert.Equal(minutes, Money.BilledMinutes(ms));

    [Fact]
    public void AmountIsIntegerAndRoundsOnlyTheLineTotalUp()
    {
        Assert.Equal(1_800_000, Money.Amount(120, 900_000));
        // $4.13/h: 68,833.33.. per minute; 3 minutes = 206,500 exactly; 1 minute rounds up to 68,834.
        Assert.Equal(206_500, Money.Amount(3, 4_130_000));
        Assert.Equal(68_834, Money.Amount(1, 4_130_000));
        Assert.Equal(0, Money.Amount(10, 0));
        Assert.Equal(10_000, Money.PerMinute(600_000));
        Assert.Equal(68_834, Money.PerMinute(4_130_000));
        Assert.Throws<OverflowException>(() => Money.Amount(long.MaxValue / 2, 900_000));
    }

    [Fact]
    public void CeilingIsPerSpaceAndFlavorNotPerInterval()
    {
        // Three 20-second intervals in one period are 1 billed minute, not 3.
        var totals = Enumerable.Range(0, 3).Select(_ => new UsageTotal("a/b", "a", "t4-small", 600_000, 20_000, 0));
        var inv = Invoicing.Build("x", 0, 1, totals, false);
        Assert.Equal(1, Assert.Single(inv.Lines).Minutes);
        Assert.Equal(10_000, inv.OwedMicroUsd);
    }

    [Fact]
    public void FormatsExactDecimal() => Assert.Equal("$0.068834", Money.Format(68_834));
}

public class SleepTests
{
    [Fact]
    public void CpuBasicSleepsAfter48HoursWithoutAVisitAndCannotBeSet()
    {
        var d = new Driver("cpu-basic").Up(0);
        Assert.Equal(48 * 3600, d.Machine.EffectiveSleepSeconds(d.State));
        var e = Assert.Throws<LifecycleException>(() => d.On(1, new SleepTimeSet(3600)));
        Assert.Equal(LifecycleErrorKind.RuleBroken, e.Kind);
        Assert.Contains("cannot be set", e.Message);
        d.On(60, new Visited());
        // Heartbeats keep arriving (the runner is alive); only the missing visits put it to sleep.
        Assert.Null(d.Machine.Due(SpaceMachine.Heartbeat(d.State, Driver.At(60 + 47 * 60)), Driver.At(60 + 47 * 60)));
        var late = Driver.At(60 + 48 * 60 + 0.5);
        var due = Assert.IsType<SleepDue>(d.Machine.Due(SpaceMachine.Heartbeat(d.State, late), late));
        Assert.Equal(Driver.At(60 + 48 * 60), due.AtMs);
    }

    [Fact]
    public void SleepTimeOnFreeHardwareIsRefusedAtCreationAndHardwareRequest()
    {
        var m = new SpaceMachine(HardwareCatalogue.Default, LifecyclePolicy.Default);
        Assert.Equal(LifecycleErrorKind.RuleBroken, Assert.Throws<LifecycleException>(() => m.Create("a/b", new Created("a", "gradio", "cpu-basic", 600, "u"))).Kind);
        var d = new Driver("t4-small");
        Assert.Equal(LifecycleErrorKind.RuleBroken, Assert.Throws<LifecycleException>(() => d.On(1, new HardwareRequested("cpu-basic", 600))).Kind);
    }

    [Fact]
    public void PaidNeverSleepsByDefaultButAcceptsACustomTime()
    {
        var d = new Driver("t4-small").Up(0);
        Assert.Null(d.Machine.EffectiveSleepSeconds(d.State));
        Assert.Null(d.Machine.Due(SpaceMachine.Heartbeat(d.State, Driver.At(10_000)), Driver.At(10_000)));
        d.On(1, new SleepTimeSet(600));
        Assert.Equal(600, d.Machine.EffectiveSleepSeconds(d.State));
        d.On(2, new SleepTimeSet(-1));
        Assert.Null(d.Machine.EffectiveSleepSeconds(d.State));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    [InlineData(59)]
    [InlineData(100L * 24 * 3600)]
    public void OutOfRangeSleepIsBadInput(long seconds)
    {
        var d = new Driver("t4-small");
        Assert.Equal(LifecycleErrorKind.BadInput, Assert.Throws<LifecycleException>(() => d.On(1, new SleepTimeSet(seconds))).Kind);
    }

    [Fact]
    public void MovingToFreeHardwareDropsTheCustomSleepTime()
    {
        var d = new Driver("t4-small", sleep: 600).On(1, new HardwareRequested("cpu-basic", null));
        Assert.Null(d.State.SleepSeconds);
    }

    [Fact]
    public void AVisitWakesASleepingSpaceButNotAPausedOne()
    {
        var d = new Driver("t4-small", sleep: 600).Up(0).On(10, new SleepDue());
        Assert.Equal(Stage.Stopped, d.State.Stage);
        d.On(20, new Visited());
        Assert.Equal(Stage.AppStarting, d.State.Stage);
        var p = new Driver().Up(0).On(5, new PauseRequested(false, null)).On(6, new Visited());
        Assert.Equal(Stage.Paused, p.State.Stage);
    }

    [Fact]
    public void VisitsPostponeSleep()
    {
        var d = new Driver("t4-small", sleep: 600).Up(0).On(9, new Visited());
        Assert.Null(d.Machine.Due(SpaceMachine.Heartbeat(d.State, Driver.At(15)), Driver.At(15)));
        Assert.IsType<SleepDue>(d.Machine.Due(SpaceMachine.Heartbeat(d.State, Driver.At(19.5)), Driver.At(19.5)));
    }
}

public class OwnerAndTimeTests
{
    [Fact]
    public void OnlyTheOwnerManages()
    {
        var d = new Driver();
        Principal.User("alice").EnsureOwner(d.State, "pause");
        var e = Assert.Throws<LifecycleException>(() => Principal.User("bob").EnsureOwner(d.State, "pause"));
        Assert.Equal(LifecycleErrorKind.Forbidden, e.Kind);
        Assert.Contains("only the owner of alice/app can pause", e.Message);
        Assert.Throws<LifecycleException>(() => Principal.Runner("alice/app", "alice").EnsureOwner(d.State, "pause"));
    }

    [Fact]
    public void RunnersReportOnlyForTheirOwnSpace()
    {
        var d = new Driver();
        Principal.Runner("alice/app", "alice").EnsureCanReport(d.State);
        Principal.User("alice").EnsureCanReport(d.State);
        Assert.Throws<LifecycleException>(() => Principal.Runner("alice/other", "alice").EnsureCanReport(d.State));
        Assert.Throws<LifecycleException>(() => Principal.User("bob").EnsureCanReport(d.State));
    }

    [Fact]
    public void LateWindowAndFutureSkew()
    {
        var p = LifecyclePolicy.Default;
        var now = Driver.At(10_000);
        p.EnsureTimely(now - (long)TimeSpan.FromHours(23).TotalMilliseconds, now);
        p.EnsureTimely(now + 60_000, now);
        Assert.Equal(LifecycleErrorKind.Stale, Assert.Throws<LifecycleException>(() => p.EnsureTimely(now - (long)TimeSpan.FromHours(25).TotalMilliseconds, now)).Kind);
        Assert.Equal(LifecycleErrorKind.RuleBroken, Assert.Throws<LifecycleException>(() => p.EnsureTimely(now + 600_000, now)).Kind);
    }

    [Fact]
    public void ReplayOfReorderedHistoryGivesTheSameIntervalsAsInOrder()
    {
        var d = new Driver("t4-medium", sleep: 3600).Up(0).On(90, new SleepDue()).On(120, new Visited()).Stage(120, Stage.Running)
            .Stage(150, Stage.RuntimeError);
        var replay = d.Machine.Replay("alice/app", d.History);
        Assert.Equal(d.Closed, replay.Closed);
        Assert.Equal(d.State with { }, replay.State);
    }
}
