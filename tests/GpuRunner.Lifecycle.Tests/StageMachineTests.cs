using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

public class StageMachineTests
{
    [Fact]
    public void BuildingToAppStartingToRunning()
    {
        var d = new Driver().StartRun(0).Stage(1, Stage.AppStarting).Stage(2, Stage.Running);
        Assert.Equal(Stage.Running, d.State.Stage);
        Assert.Equal("t4-medium", d.State.CurrentFlavor);
    }

    [Fact]
    public void NewSpaceIsBuildingWithNoCurrentHardware()
    {
        var d = new Driver();
        Assert.Equal(Stage.Building, d.State.Stage);
        Assert.Null(d.State.CurrentFlavor);
        Assert.Equal("t4-medium", d.State.RequestedFlavor);
    }

    [Fact]
    public void SkippingAppStartingIsIllegalAndNotApplied()
    {
        var d = new Driver().StartRun(0);
        var before = d.State;
        var e = Assert.Throws<LifecycleException>(() => d.Stage(1, Stage.Running));
        Assert.Equal(LifecycleErrorKind.IllegalTransition, e.Kind);
        Assert.Contains("BUILDING -> RUNNING", e.Message);
        Assert.Same(before, d.State);
    }

    [Fact]
    public void RunnerCannotReportStagesItDoesNotOwn()
    {
        var d = new Driver().StartRun(0);
        var e = Assert.Throws<LifecycleException>(() => d.Stage(1, Stage.Paused));
        Assert.Equal(LifecycleErrorKind.BadInput, e.Kind);
    }

    [Fact]
    public void SameStageAgainIsANoOp()
    {
        var d = new Driver().Up(0).Stage(5, Stage.Running);
        Assert.Equal(Stage.Running, d.State.Stage);
        Assert.Equal(Driver.At(0), d.State.StageSinceMs);
    }

    [Theory]
    [InlineData(Stage.Building)]
    [InlineData(Stage.Running)]
    [InlineData(Stage.Stopped)]
    [InlineData(Stage.AppStarting)]
    public void OwnerCanPauseFromAnyStage(Stage from)
    {
        var d = new Driver();
        if (from != Stage.Building) d.StartRun(0).Stage(0, Stage.AppStarting);
        if (from is Stage.Running or Stage.Stopped) d.Stage(0, Stage.Running);
        if (from == Stage.Stopped) d.Stage(1, Stage.Stopped);
        Assert.Equal(from, d.State.Stage);
        d.On(2, new PauseRequested(false, null));
        Assert.True(d.State.Paused);
    }

    [Fact]
    public void PausedSpaceCannotBeStartedByTheRunnerOnlyRestartedByTheOwner()
    {
        var d = new Driver().Up(0).On(10, new PauseRequested(false, null));
        Assert.Equal(LifecycleErrorKind.IllegalTransition, Assert.Throws<LifecycleException>(() => d.Stage(11, Stage.AppStarting)).Kind);
        Assert.Equal(LifecycleErrorKind.IllegalTransition, Assert.Throws<LifecycleException>(() => d.StartRun(11, "r2")).Kind);
        Assert.True(d.State.Paused);
        d.On(12, new RestartRequested(false)).StartRun(12, "r2").Stage(13, Stage.AppStarting, "r2").Stage(14, Stage.Running, "r2");
        Assert.Equal(Stage.Running, d.State.Stage);
        Assert.Null(d.State.PauseReason);
    }

    [Fact]
    public void RunnerStoppedDuringStartUpIsStoppedNotAutoPaused()
    {
        var d = new Driver().StartRun(0).Stage(1, Stage.AppStarting).Stage(2, Stage.Stopped);
        Assert.Equal(Stage.Stopped, d.State.Stage);
        Assert.False(d.State.Paused);
        Assert.Null(d.State.PauseReason);
        Assert.Null(d.State.LastError);
        Assert.Null(d.State.Open); // billing stops with the app
        d.On(3, new RunExited("r1", 143, "SIGTERM", null)); // the exit that follows the stop changes nothing
        Assert.Equal(Stage.Stopped, d.State.Stage);
        Assert.Null(d.State.LastError);
        d.On(4, new Visited()); // and a visitor can wake it like any stopped Space
        Assert.Equal(Stage.AppStarting, d.State.Stage);
    }

    [Fact]
    public void DeletingIsTerminal()
    {
        var d = new Driver().On(1, new DeleteRequested());
        Assert.Equal(Stage.Deleting, d.State.Stage);
        Assert.Throws<LifecycleException>(() => d.On(2, new RestartRequested(false)));
        Assert.Throws<LifecycleException>(() => d.On(2, new PauseRequested(false, null)));
    }

    [Fact]
    public void HardwareRequestWhileRunningGoesThroughRunningBuildingThenCurrentBecomesRequested()
    {
        var d = new Driver("t4-small").Up(0).On(10, new HardwareRequested("a10g-small", null));
        Assert.Equal(Stage.RunningBuilding, d.State.Stage);
        Assert.Equal("t4-small", d.State.CurrentFlavor);
        Assert.Equal("a10g-small", d.State.RequestedFlavor);
        d.StartRun(12, "r2").Stage(12, Stage.AppStarting, "r2");
        Assert.Equal(Stage.RunningAppStarting, d.State.Stage);
        d.Stage(13, Stage.Running, "r2");
        Assert.Equal("a10g-small", d.State.CurrentFlavor);
    }

    [Fact]
    public void EventsOfAnOldRunAreStale()
    {
        var d = new Driver().Up(0, "r1").StartRun(5, "r2");
        var e = Assert.Throws<LifecycleException>(() => d.Stage(6, Stage.RuntimeError, "r1"));
        Assert.Equal(LifecycleErrorKind.Stale, e.Kind);
    }

    [Fact]
    public void UnregisteredRunIsAConflict()
    {
        var d = new Driver();
        Assert.Equal(LifecycleErrorKind.Conflict, Assert.Throws<LifecycleException>(() => d.Stage(1, Stage.AppStarting)).Kind);
    }

    [Fact]
    public void WireNamesRoundTrip()
    {
        foreach (var s in Enum.GetValues<Stage>())
        {
            Assert.True(Stages.TryParse(s.ToWire(), out var back));
            Assert.Equal(s, back);
        }
        Assert.Equal("RUNNING_APP_STARTING", Stage.RunningAppStarting.ToWire());
        Assert.False(Stages.TryParse("running", out _));
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("alice/")]
    [InlineData("a/b/c")]
    [InlineData("a/b c")]
    public void BadIdsAreBadInput(string id)
    {
        var m = new SpaceMachine(HardwareCatalogue.Default, LifecyclePolicy.Default);
        Assert.Equal(LifecycleErrorKind.BadInput, Assert.Throws<LifecycleException>(() => m.Create(id, new Created("a", "gradio", "cpu-basic", null, "u"))).Kind);
    }

    [Fact]
    public void UnknownSdkAndFlavorAreBadInput()
    {
        var m = new SpaceMachine(HardwareCatalogue.Default, LifecyclePolicy.Default);
        Assert.Contains("unknown sdk", Assert.Throws<LifecycleException>(() => m.Create("a/b", new Created("a", "rails", "cpu-basic", null, "u"))).Message);
        Assert.Contains("unknown hardware flavor 'h900'", Assert.Throws<LifecycleException>(() => m.Create("a/b", new Created("a", "docker", "h900", null, "u"))).Message);
    }
}
