using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

/// <summary>GPU events of the runner's watch in the stage machine: the platform's fatal fault ends the run at its
/// instant without pausing the Space; anything else is only noted.</summary>
public class GpuFaultTests
{
    private static GpuReported Gpu(string cls, bool fatal, int code = 79, string kind = "xid", string run = "r1") =>
        new(run, new GpuNote(0, 0, cls, kind, code, fatal, $"cause {code}"));

    [Fact]
    public void APlatformFaultEndsTheRunAtItsInstantWithoutPausing()
    {
        var d = new Driver("a10g-small").Up(0).On(42.5, Gpu("hardware", fatal: true));
        Assert.Equal(Stage.RuntimeError, d.State.Stage);
        Assert.False(d.State.Paused);
        Assert.Null(d.State.Open);
        Assert.Equal(Driver.At(42.5), Assert.Single(d.Closed).EndMs); // billing closed at the fault, not at the crash
        Assert.StartsWith("platform fault: cause 79", d.State.LastError);
        Assert.NotNull(d.State.PlatformFault);

        // The app then crashes and the runner reports it: still not paused, nothing more billed, the cause kept.
        d.Stage(43, Stage.RuntimeError, message: "exit 1").On(43, new RunExited("r1", 1, null, "CUDA error: unknown error"));
        Assert.Equal(Stage.RuntimeError, d.State.Stage);
        Assert.Null(d.State.PauseReason);
        Assert.Single(d.Closed);
        Assert.StartsWith("platform fault:", d.State.LastError);
    }

    [Fact]
    public void ANewRunOnHealthyHardwareStartsItAgainAndClearsTheFault()
    {
        var d = new Driver("a10g-small").Up(0).On(10, Gpu("driver", fatal: true, code: 119)).Up(20, run: "r2");
        Assert.Equal(Stage.Running, d.State.Stage);
        Assert.Null(d.State.PlatformFault);
        Assert.NotNull(d.State.Open);
    }

    [Theory]
    [InlineData("user", false)]   // the app's own fault: the crash that follows is an ordinary RUNTIME_ERROR
    [InlineData("info", false)]   // power-cap throttling
    [InlineData("hardware", false)] // retired pages pending: a reset applies them, the run goes on
    public void OtherGpuEventsAreOnlyNoted(string cls, bool fatal)
    {
        var d = new Driver("a10g-small").Up(0).On(5, Gpu(cls, fatal, code: 31));
        Assert.Equal(Stage.Running, d.State.Stage);
        Assert.NotNull(d.State.Open);
        Assert.Equal(cls, d.State.LastGpuEvent!.Class);
        Assert.Null(d.State.PlatformFault);
        // An app that crashes after a user-code fault is auto-paused as any crash.
        d.Stage(6, Stage.RuntimeError, message: "illegal memory access");
        Assert.Equal(Stage.Paused, d.State.Stage);
    }

    [Fact]
    public void AnAppThatCrashesWithoutAGpuFaultIsStillAutoPaused()
    {
        var d = new Driver("a10g-small").Up(0).Stage(5, Stage.RuntimeError, message: "CUDA error: unknown error");
        Assert.Equal(Stage.Paused, d.State.Stage);
        Assert.Null(d.State.PlatformFault);
    }

    [Fact]
    public void AGpuEventOfAnotherRunIsRefused()
    {
        var d = new Driver("a10g-small").Up(0);
        var e = Assert.Throws<LifecycleException>(() => d.On(1, Gpu("hardware", fatal: true, run: "old")));
        Assert.Equal(LifecycleErrorKind.Stale, e.Kind);
    }

    [Fact]
    public void AFaultFoundJustAfterTheCrashMakesTheCrashThePlatformsAndUndoesTheAutoPause()
    {
        // The watch polls (no NVML events in the container): the app died of the lost GPU at minute 30, the poll
        // that finds it runs 2 s later.
        var d = new Driver("a10g-small").Up(0).Stage(30, Stage.RuntimeError, message: "CUDA error: unknown error");
        Assert.Equal(Stage.Paused, d.State.Stage);
        d.On(30 + 2.0 / 60, Gpu("hardware", fatal: true));
        Assert.Equal(Stage.RuntimeError, d.State.Stage);
        Assert.Null(d.State.PauseReason);
        Assert.StartsWith("platform fault: cause 79", d.State.LastError);
        Assert.NotNull(d.State.PlatformFault);
        Assert.Equal(Driver.At(30), Assert.Single(d.Closed).EndMs); // billing still closed at the crash

        // Past the window (10 s) a fault explains nothing about the crash.
        var late = new Driver("a10g-small").Up(0).Stage(30, Stage.RuntimeError, message: "exit 1").On(30 + 15.0 / 60, Gpu("hardware", fatal: true));
        Assert.Equal(Stage.Paused, late.State.Stage);
        Assert.Null(late.State.PlatformFault);
    }

    [Fact]
    public void AFaultDeliveredLateIsFoldedInItsPlace()
    {
        // The fault arrives after the runner's RUNTIME_ERROR (outbox order): the fold puts it first, and the Space ends
        // as with in-order delivery: RUNTIME_ERROR, not paused, billed up to the fault.
        var d = new Driver("a10g-small").Up(0);
        var fault = Gpu("hardware", fatal: true) with { AtMs = Driver.At(30) };
        var crash = new StageReported("r1", Stage.RuntimeError, "exit 1") { AtMs = Driver.At(31) };
        var history = d.History.Select((e, i) => new LoggedEvent(e, i)).Append(new LoggedEvent(crash, 100)).Append(new LoggedEvent(fault, 101));
        var fold = d.Machine.Fold("alice/app", history);
        Assert.Equal(Stage.RuntimeError, fold.State.Stage);
        Assert.Equal(Driver.At(30), Assert.Single(fold.Closed).EndMs);
    }
}
