using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class StabilityJudgeTests
{
    private static TelemetrySample S(double mhz, params string[] reasons) => new(mhz, 3200, 690, 70, reasons, 0);

    private static List<(double, TelemetrySample)> Run(params TelemetrySample[] s) => s.Select((x, i) => ((double)i + 1, x)).ToList();

    [Fact]
    public void PowerCappedSteadyClocksPass()
    {
        var r = StabilityJudge.Judge(Run(S(1755, "sw_power_cap"), S(1740, "sw_power_cap"), S(1770)), S(1980), S(1980));
        Assert.Equal(SmokeStatus.Pass, r.Status);
        Assert.Equal(1740, r.MinSmClockMHz);
    }

    [Fact]
    public void AClockDropWarnsWithItsTime()
    {
        var r = StabilityJudge.Judge(Run(S(1755), S(1750), S(900), S(1760)), S(1980), S(1980));
        Assert.Equal(SmokeStatus.Warn, r.Status);
        Assert.Contains("clock drop to 900 MHz at 3 s", r.Evidence);
    }

    [Fact]
    public void HardwareSlowdownFails() =>
        Assert.Equal(SmokeStatus.Fail, StabilityJudge.Judge(Run(S(1755), S(1000, "hw_slowdown")), S(1980), S(1980)).Status);

    [Fact]
    public void NewUncorrectableEccErrorsFail()
    {
        var after = S(1980) with { EccVolatileUncorrected = 1 };
        var r = StabilityJudge.Judge(Run(S(1755), S(1755)), S(1980), after);
        Assert.Equal(SmokeStatus.Fail, r.Status);
        Assert.Contains("0 -> 1", r.Evidence);
    }

    [Fact]
    public void NoTelemetryIsAWarningNotAPass() =>
        Assert.Equal(SmokeStatus.Warn, StabilityJudge.Judge([], S(0), S(0)).Status);
}
