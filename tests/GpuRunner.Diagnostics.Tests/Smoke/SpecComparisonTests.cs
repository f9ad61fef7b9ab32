using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class SpecComparisonTests
{
    [Theory]
    // The H200 figures measured in the probe run (RECIPE.md) must pass against its datasheet.
    [InlineData(4276, 4800, 89.1, SmokeStatus.Pass)]
    [InlineData(3360, 4800, 70.0, SmokeStatus.Pass)]   // exactly at the pass line
    [InlineData(3359, 4800, 70.0, SmokeStatus.Warn)]   // just under it (rounded percent, unrounded judgement)
    [InlineData(2400, 4800, 50.0, SmokeStatus.Warn)]
    [InlineData(2399, 4800, 50.0, SmokeStatus.Fail)]
    [InlineData(0, 4800, 0, SmokeStatus.Fail)]
    public void MemoryBandwidthThresholds(double measured, double spec, double percent, SmokeStatus expected)
    {
        var c = SpecComparison.Compare(measured, spec, Thresholds.MemoryBandwidth);
        Assert.Equal(expected, c.Status);
        Assert.Equal(percent, c.PercentOfReference, 1);
    }

    [Fact]
    public void GemmOfTheProbeRunPassesAgainstH200Spec()
    {
        // 785 TFLOP/s bf16 (TorchSharp there) against 989 dense: 79 %.
        var c = SpecComparison.Compare(785, 989, Thresholds.TensorGemm);
        Assert.Equal(SmokeStatus.Pass, c.Status);
        Assert.Equal("785 TFLOP/s, 79.4 % of 989 TFLOP/s spec", c.Describe("TFLOP/s", "spec"));
    }

    [Fact]
    public void NaNMeasurementFails() =>
        Assert.Equal(SmokeStatus.Fail, SpecComparison.Compare(double.NaN, 100, Thresholds.MemoryBandwidth).Status);

    [Fact]
    public void ZeroReferenceIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SpecComparison.Compare(1, 0, Thresholds.MemoryBandwidth));

    [Theory]
    [InlineData(3, 16, 10, 12)]
    [InlineData(4, 16, 20, 25)]
    [InlineData(5, 16, 40, 55)]
    [InlineData(5, 8, 20, 27.5)]   // half the lanes, half the figure
    [InlineData(4, 32, 20, 25)]    // wider than x16 is not counted as faster
    public void PracticalPcieFigures(int gen, int width, double low, double high)
    {
        var f = PcieFigures.Practical(gen, width);
        Assert.NotNull(f);
        Assert.Equal(low, f.Value.Low, 3);
        Assert.Equal(high, f.Value.High, 3);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void UnknownPcieGenerationHasNoFigure(int gen) => Assert.Null(PcieFigures.Practical(gen));

    [Fact]
    public void PinnedH2DOfTheProbeRunPassesOnGen5()
    {
        var low = PcieFigures.Practical(5)!.Value.Low;
        Assert.Equal(SmokeStatus.Pass, SpecComparison.Compare(51, low, Thresholds.PinnedTransfer).Status);
        // A Gen5 card stuck at Gen3 speeds (~11 GB/s) fails.
        Assert.Equal(SmokeStatus.Fail, SpecComparison.Compare(11, low, Thresholds.PinnedTransfer).Status);
    }

    [Theory]
    [InlineData(4276.4, "4276")]
    [InlineData(53.14, "53.1")]
    [InlineData(0.4123, "0.412")]
    public void NumbersHaveThreeSignificantFigures(double v, string text) => Assert.Equal(text, SmokeFormat.Number(v));
}
