using GpuRunner.Lifecycle;

namespace GpuRunner.Lifecycle.Tests;

/// <summary>The core decides the billed flavor from the report's hardware facts and its own catalogue, not from the
/// tier name the runner computed with its catalogue.</summary>
public class HardwareFactsTests
{
    private static DeviceFacts T4(int vcpu = 4, double ramGB = 16) => new([new GpuFact("Tesla T4", 15360)], vcpu, (long)(ramGB * 1e9));

    [Theory]
    [InlineData("Tesla T4", "T4", true)]
    [InlineData("NVIDIA T4", "T4", true)]
    [InlineData("NVIDIA A10G", "A10G", true)]
    [InlineData("NVIDIA A10", "A10G", false)]
    [InlineData("NVIDIA A10G", "A10", false)]
    [InlineData("NVIDIA L40S", "L4", false)]
    [InlineData("NVIDIA L40S", "L40S", true)]
    [InlineData("NVIDIA A100-SXM4-40GB", "A100", true)]
    [InlineData("NVIDIA H100 80GB HBM3", "H100", true)]
    [InlineData("NVIDIA H200", "H100", false)]
    [InlineData("nvidia geforce rtx 4090", "RTX 4090", true)]
    public void ANameIsOfAModelWhenTheModelsWordsAppearInIt(string name, string model, bool expected) =>
        Assert.Equal(expected, HardwareCatalogue.NamesModel(name, model));

    [Fact]
    public void SatisfiedFlavorsFollowTheTolerancePolicy()
    {
        var c = HardwareCatalogue.Default;
        Assert.Equal(["t4-small"], c.Satisfied(T4()).Select(f => f.Id));
        Assert.Equal(["t4-small", "t4-medium"], c.Satisfied(T4(vcpu: 8, ramGB: 30)).Select(f => f.Id));
        Assert.Equal(["t4-small", "t4-medium"], c.Satisfied(T4(vcpu: 8, ramGB: 27.5)).Select(f => f.Id)); // >= 90 % of 30 GB
        Assert.Empty(c.Satisfied(T4(vcpu: 3)));                                                             // fewer vCPU than any T4 tier
        Assert.Equal(["cpu-basic"], c.Satisfied(new DeviceFacts([], 2, 16_000_000_000)).Select(f => f.Id));
        // A MIG slice of an A100 40 GB: the right name, far too little memory.
        Assert.Empty(c.Satisfied(new DeviceFacts([new GpuFact("NVIDIA A100-SXM4-40GB", 9856)], 12, 150_000_000_000)));
        // Two T4s are not a one-T4 tier; unknown figures are not compared.
        Assert.Empty(c.Satisfied(new DeviceFacts([new GpuFact("Tesla T4", 15360), new GpuFact("Tesla T4", 15360)], null, null)));
        Assert.Equal(["t4-small", "t4-medium"], c.Satisfied(new DeviceFacts([new GpuFact("Tesla T4", null)], null, null)).Select(f => f.Id));
    }

    private static Driver Run(string requested, DeviceReported report) =>
        new Driver(requested).StartRun(0).On(0, report).Stage(0, Stage.AppStarting).Stage(0, Stage.Running).On(60, new PauseRequested(false, null));

    [Fact]
    public void ARunnerTierNameTheCoreDoesNotKnowIsBilledByTheGpuFacts()
    {
        // The runner's catalogue calls it "nvidia-t4-x1"; this core's catalogue knows the hardware as t4-small.
        var d = Run("a10g-small", new DeviceReported("r1", "nvidia-t4-x1", "matches nvidia-t4-x1", T4()));
        var i = Assert.Single(d.Closed);
        Assert.Equal(("a10g-small", "t4-small", 600_000L), (i.RequestedFlavor, i.BilledFlavor, i.HourlyMicroUsd));
        Assert.Equal("t4-small", d.State.Mismatch!.Detected);
        Assert.Contains("1x Tesla T4 15360 MiB", d.State.Mismatch.Summary);
        Assert.Contains("nvidia-t4-x1", d.State.Mismatch.Summary);
    }

    [Fact]
    public void ARunnerThatNamesTheRequestedTierOnLesserHardwareIsBilledForTheHardware()
    {
        // A runner whose catalogue is wrong (or lies) says a10g-small; the GPU is a T4.
        var d = Run("a10g-small", new DeviceReported("r1", "a10g-small", "matches a10g-small", T4(vcpu: 8, ramGB: 30)));
        var i = Assert.Single(d.Closed);
        Assert.Equal(("t4-medium", 900_000L), (i.BilledFlavor, i.HourlyMicroUsd)); // the most the hardware is worth, < $1.05
    }

    [Fact]
    public void TheRunnersNameDecidesBetweenFlavorsTheFactsAllowButNothingElse()
    {
        // Without host figures a T4 satisfies t4-small and t4-medium: the runner (which saw the host) said t4-small.
        var noHost = new DeviceFacts([new GpuFact("Tesla T4", 15360)], null, null);
        Assert.Equal("t4-small", Run("a10g-small", new DeviceReported("r1", "t4-small", null, noHost)).State.Mismatch!.Detected);
        // A name the facts do not bear out is ignored: the most the hardware is worth.
        Assert.Equal("t4-medium", Run("a10g-small", new DeviceReported("r1", "a10g-large", null, noHost)).State.Mismatch!.Detected);
        Assert.Equal("t4-medium", Run("a10g-small", new DeviceReported("r1", null, null, noHost)).State.Mismatch!.Detected);
    }

    [Fact]
    public void FactsThatSatisfyTheRequestedFlavorAreNoMismatchWhateverTheRunnerCalledThem()
    {
        var d = Run("t4-small", new DeviceReported("r1", "t4-medium-old-name", null, T4(vcpu: 8, ramGB: 30)));
        Assert.Null(d.State.Mismatch);
        Assert.Equal("t4-small", d.State.DetectedFlavor);
        Assert.Equal(("t4-small", 600_000L), (Assert.Single(d.Closed).BilledFlavor, d.Closed[0].HourlyMicroUsd));
    }

    [Fact]
    public void BetterHardwareIsRecordedAndBilledAtTheRequestedRate()
    {
        var a10gLarge = new DeviceFacts([new GpuFact("NVIDIA A10G", 23028)], 12, 48_000_000_000);
        var d = Run("t4-small", new DeviceReported("r1", null, null, a10gLarge));
        Assert.Equal("a10g-large", d.State.Mismatch!.Detected);
        Assert.Equal(("t4-small", 600_000L), (Assert.Single(d.Closed).BilledFlavor, d.Closed[0].HourlyMicroUsd));
    }

    [Fact]
    public void HardwareThatNoFlavorDescribesIsBilledAsUnmatched()
    {
        // The runner's catalogue knows the H200 and says so; this core's catalogue has no H200 flavor.
        var h200 = new DeviceFacts([new GpuFact("NVIDIA H200", 143771)], 16, 135_100_000_000);
        var d = Run("a10g-small", new DeviceReported("r1", "h200", "matches h200", h200));
        Assert.Equal((SpaceMachine.Unmatched, 0L), (Assert.Single(d.Closed).BilledFlavor, d.Closed[0].HourlyMicroUsd));
        Assert.Null(d.State.Mismatch!.Detected);
        // And a GPU report without a working driver is no GPU: a CPU tier at most.
        var noDriver = Run("t4-small", new DeviceReported("r1", null, null, new DeviceFacts([], 8, 32_000_000_000)));
        Assert.Equal(("cpu-upgrade", 30_000L), (Assert.Single(noDriver.Closed).BilledFlavor, noDriver.Closed[0].HourlyMicroUsd));
    }

    [Fact]
    public void FactsCompareByValue()
    {
        Assert.Equal(T4(), T4());
        Assert.NotEqual(T4(), T4(vcpu: 8));
        Assert.Equal(new DeviceReported("r", "x", null, T4()), new DeviceReported("r", "x", null, T4()));
    }
}
