using GpuRunner.Diagnostics.Watch;

namespace GpuRunner.Diagnostics.Tests.Watch;

/// <summary>Which fault names a crash when `exec` restarts the app within one watch.</summary>
public class GpuWatcherRunTests
{
    private static GpuWatcher Watcher(List<GpuWatchEvent> seen) => new(XidTable.BuiltIn, seen.Add, _ => { });

    [Fact]
    public void AUserCodeFaultOfAnEarlierRunDoesNotNameALaterCrash()
    {
        var seen = new List<GpuWatchEvent>();
        using var w = Watcher(seen);
        w.BeginRun();
        w.Report(0, "xid", 13, GpuFaultClass.User, false, "an illegal memory access by the app");
        Assert.Equal(13, w.FirstFault?.Code);
        w.BeginRun(); // the app was restarted: its earlier bug is not the new run's cause
        Assert.Null(w.FirstFault);
        w.Report(0, "xid", 31, GpuFaultClass.User, false, "a page fault by the app");
        Assert.Equal(31, w.FirstFault?.Code);
        Assert.Equal(2, seen.Count); // every finding was still recorded as it came
    }

    [Fact]
    public void AFatalFaultStillNamesTheCrashOfTheNextRun()
    {
        using var w = Watcher([]);
        w.BeginRun();
        w.Report(0, "xid", 79, GpuFaultClass.Hardware, true, "the GPU fell off the bus");
        w.BeginRun();
        Assert.Equal(79, w.FirstFault?.Code); // nothing reset the GPU: it is still why the app fails
        Assert.True(w.FirstFault!.PlatformFault);
    }

    [Fact]
    public void AFaultIsRecordedBeforeItIsTheCauseOfACrash()
    {
        // exec sends the RUNTIME_ERROR as soon as FirstFault names a cause: the fault's own event must already be
        // recorded (queued ahead of it), or the core sees the crash first and blames the app.
        GpuWatcher? w = null;
        GpuWatchEvent? causeWhileRecording = null;
        w = new GpuWatcher(XidTable.BuiltIn, _ => causeWhileRecording = w!.FirstFault, _ => { });
        using (w)
        {
            w.Report(0, "xid", 79, GpuFaultClass.Hardware, true, "the GPU fell off the bus");
            Assert.Null(causeWhileRecording);
            Assert.Equal(79, w.FirstFault?.Code);
        }
    }

    [Fact]
    public void InformationIsNeverACause()
    {
        using var w = Watcher([]);
        w.Report(0, "throttle", 4, GpuFaultClass.Info, false, "power-cap throttling");
        Assert.Null(w.FirstFault);
    }
}
