using System.Runtime.CompilerServices;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Native.Tests;

/// <summary>NVML events and the health reads against the fake library's scripted events.</summary>
public class NvmlEventTests
{
    public NvmlEventTests() => _ = NativeEnvironment.Fakes;

    [Fact]
    public void LayoutsMatchNvmlH()
    {
        Assert.Equal(32, Unsafe.SizeOf<nvmlEventData_t>());
        Assert.Equal(24, Unsafe.SizeOf<nvmlProcessInfo_t>());
    }

    [Fact]
    public void RegistersTheSupportedPartAndDeliversAScriptedXid()
    {
        using var _ = NativeEnvironment.Set("FAKE_NVML_EVENTS", "dbe@0,xid:79@0.1");
        using var nvml = NvmlSession.Open();
        using var set = NvmlEventSet.Create();
        var registered = set.Register(nvml.Device(0), NvmlEventType.Watched);
        // The fake, like most data-centre GPUs, has no power-source events: the rest is registered.
        Assert.Equal(NvmlEventType.Watched & ~NvmlEventType.PowerSourceChange, registered);

        var first = set.Wait(5000);
        Assert.Equal(new NvmlEvent(0, NvmlEventType.DoubleBitEccError, 0), first);
        var second = set.Wait(5000);
        Assert.Equal(new NvmlEvent(0, NvmlEventType.XidCriticalError, 79), second);
        Assert.Null(set.Wait(10)); // nothing more: NVML_ERROR_TIMEOUT is "no event", not a failure

        // The GPU is gone now: reads say so, and the ECC counter counted the scripted error.
        Assert.Equal("NVML_ERROR_GPU_IS_LOST", nvml.Device(0).TemperatureC().Code);
    }

    [Fact]
    public void EventsNotSupportedRegistersNothing()
    {
        using var _ = NativeEnvironment.Set("FAKE_NVML_UNSUPPORTED", "events");
        using var nvml = NvmlSession.Open();
        using var set = NvmlEventSet.Create();
        Assert.Equal(NvmlEventType.None, set.Register(nvml.Device(0), NvmlEventType.Watched));
    }

    [Fact]
    public void CountersAndReasonsForThePoll()
    {
        using var a = NativeEnvironment.Set("FAKE_NVML_EVENTS", "dbe@0,replay@0");
        using var b = NativeEnvironment.Set("FAKE_NVML_THROTTLE", "0x4");
        using var nvml = NvmlSession.Open();
        var d = nvml.Device(0);
        Assert.Equal(1UL, d.EccErrors(uncorrected: true, aggregate: false).Value);
        Assert.Equal(10U, d.PcieReplayCounter().Value);
        Assert.Equal(0x4UL, d.ThrottleReasonBits().Value);
    }

    [Fact]
    public void ProcessMemoryIsNotFoundForPidsNvmlDoesNotList()
    {
        using var nvml = NvmlSession.Open();
        var mem = nvml.Device(0).ProcessMemoryMiB(new HashSet<int> { Environment.ProcessId });
        Assert.False(mem.HasValue);
        Assert.Equal("NVML_ERROR_NOT_FOUND", mem.Code);
    }
}
