using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class HealthEvaluatorTests
{
    /// <summary>The lent H200 as nvidia-smi -q showed it (shared/device/h200/nvidia-smi-q.txt).</summary>
    private static readonly GpuHealthFacts H200 = new()
    {
        EccEnabled = true, EccVolatileUncorrected = 0, EccAggregateUncorrected = 0,
        RowRemapCorrected = 0, RowRemapUncorrected = 0, RowRemapPending = false, RowRemapFailure = false,
        ThrottleReasons = ["gpu_idle"], TemperatureC = 37, TemperatureMarginC = 50, SlowdownMarginC = -2,
        PcieGen = 5, PcieGenMax = 5, PcieWidth = 16, PcieWidthMax = 16, PersistenceMode = true,
    };

    private static SmokeCheckResult Check(GpuHealthFacts f, string id, bool underLoad = false) =>
        HealthEvaluator.Evaluate(0, f, underLoad).Single(c => c.Id == id);

    [Fact]
    public void HealthyH200PassesAndSaysWhatItCannotSee()
    {
        var results = HealthEvaluator.Evaluate(0, H200);
        Assert.Equal(7, results.Count);
        Assert.All(results.Where(r => r.Id != "health.retired-pages"), r => Assert.Equal(SmokeStatus.Pass, r.Status));
        // Hopper has no page retirement (row remapping instead): a SKIP with the reason, not a PASS.
        var retired = results.Single(r => r.Id == "health.retired-pages");
        Assert.Equal(SmokeStatus.Skip, retired.Status);
        Assert.Contains("remap", retired.Evidence);
        Assert.Contains("52 C headroom", Check(H200, "health.temperature").Evidence);
    }

    [Fact]
    public void VolatileUncorrectableEccFails()
    {
        var r = Check(H200 with { EccVolatileUncorrected = 2 }, "health.ecc");
        Assert.Equal(SmokeStatus.Fail, r.Status);
        Assert.Contains("volatile uncorrectable 2", r.Evidence);
        Assert.NotNull(r.Diagnosis);
    }

    [Fact]
    public void EccOffWarnsAndPastErrorsWarn()
    {
        Assert.Equal(SmokeStatus.Warn, Check(H200 with { EccEnabled = false }, "health.ecc").Status);
        Assert.Equal(SmokeStatus.Warn, Check(H200 with { EccAggregateUncorrected = 1 }, "health.ecc").Status);
        Assert.Equal(SmokeStatus.Skip, Check(H200 with { EccEnabled = null }, "health.ecc").Status);
    }

    [Fact]
    public void RetiredPages()
    {
        var older = H200 with { RetiredPagesSingleBit = 1, RetiredPagesDoubleBit = 0, RetiredPagesPending = false };
        Assert.Equal(SmokeStatus.Pass, Check(older, "health.retired-pages").Status);
        Assert.Equal(SmokeStatus.Fail, Check(older with { RetiredPagesPending = true }, "health.retired-pages").Status);
        Assert.Equal(SmokeStatus.Warn, Check(older with { RetiredPagesDoubleBit = 2 }, "health.retired-pages").Status);
        Assert.Equal(SmokeStatus.Fail, Check(older with { RetiredPagesSingleBit = 60 }, "health.retired-pages").Status);
    }

    [Fact]
    public void RowRemapping()
    {
        Assert.Equal(SmokeStatus.Fail, Check(H200 with { RowRemapFailure = true }, "health.row-remap").Status);
        Assert.Equal(SmokeStatus.Warn, Check(H200 with { RowRemapPending = true }, "health.row-remap").Status);
        Assert.Equal(SmokeStatus.Warn, Check(H200 with { RowRemapUncorrected = 3 }, "health.row-remap").Status);
    }

    [Theory]
    [InlineData("hw_slowdown", false, SmokeStatus.Fail)]
    [InlineData("hw_thermal_slowdown", true, SmokeStatus.Fail)]
    [InlineData("hw_power_brake_slowdown", false, SmokeStatus.Fail)]
    [InlineData("sw_thermal_slowdown", false, SmokeStatus.Warn)]
    [InlineData("sw_power_cap", false, SmokeStatus.Warn)]  // capped while idle: a finding
    [InlineData("sw_power_cap", true, SmokeStatus.Pass)]   // capped under a full load: normal
    [InlineData("gpu_idle", false, SmokeStatus.Pass)]
    public void ThrottleReasons(string reason, bool underLoad, SmokeStatus expected)
    {
        var r = Check(H200 with { ThrottleReasons = [reason] }, "health.throttle", underLoad);
        Assert.Equal(expected, r.Status);
        Assert.Contains(reason, r.Evidence);
    }

    [Theory]
    [InlineData(60, 87, SmokeStatus.Pass)]
    [InlineData(80, 87, SmokeStatus.Warn)]
    [InlineData(87, 87, SmokeStatus.Fail)]
    public void AbsoluteSlowdownThreshold(int temp, int slowdown, SmokeStatus expected) =>
        Assert.Equal(expected, Check(new GpuHealthFacts { TemperatureC = temp, SlowdownThresholdC = slowdown }, "health.temperature").Status);

    [Theory]
    [InlineData(50, SmokeStatus.Pass)]
    [InlineData(5, SmokeStatus.Warn)]   // 7 C to slowdown at margin -2
    [InlineData(-2, SmokeStatus.Fail)]
    public void MarginStyleThreshold(int margin, SmokeStatus expected) =>
        Assert.Equal(expected, Check(H200 with { TemperatureMarginC = margin }, "health.temperature").Status);

    [Fact]
    public void NarrowLinkWarnsAlways()
    {
        var r = Check(H200 with { PcieWidth = 4 }, "health.pcie");
        Assert.Equal(SmokeStatus.Warn, r.Status);
        Assert.Contains("x4 of x16", r.Diagnosis!.Cause);
    }

    [Fact]
    public void LowerGenerationIsPowerSavingAtIdleButAFindingUnderLoad()
    {
        var gen1 = H200 with { PcieGen = 1 };
        Assert.Equal(SmokeStatus.Pass, Check(gen1, "health.pcie").Status);
        Assert.Equal(SmokeStatus.Warn, Check(gen1, "health.pcie", underLoad: true).Status);
    }

    [Fact]
    public void PersistenceOffWarns() =>
        Assert.Equal(SmokeStatus.Warn, Check(H200 with { PersistenceMode = false }, "health.persistence").Status);

    [Fact]
    public void NothingReportedIsSkipNotPass()
    {
        var results = HealthEvaluator.Evaluate(3, new GpuHealthFacts());
        Assert.All(results, r => Assert.Equal(SmokeStatus.Skip, r.Status));
        Assert.All(results, r => Assert.Equal(3, r.Gpu));
    }
}
