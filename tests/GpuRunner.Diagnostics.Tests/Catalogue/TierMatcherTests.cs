using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Tests.Catalogue;

/// <summary>
/// Machines built from the spec table: what NVML reports (MiB) and what a container's cgroup gives. The H200 is
/// the lent machine's real figures (shared/device/h200/nvidia-smi-q.txt: 143771 MiB; RECIPE.md: 16 vCPU, ~126 GiB).
/// </summary>
public class TierMatcherTests
{
    private static readonly TierMatcher Matcher = new(HardwareCatalogue.LoadDefault());
    private const long GiB = 1L << 30;

    private static MatchFacts Facts(int vcpu, double ramGiB, long diskGb, params DetectedGpu[] gpus) => new()
    {
        Gpus = gpus, Vcpu = vcpu, VcpuSource = "cgroup2 cpu.max", MemoryBytes = (long)(ramGiB * GiB),
        MemorySource = "cgroup2 memory.max", DiskPath = "/home/user/app", DiskTotalBytes = diskGb * 1_000_000_000,
        DiskFreeBytes = diskGb * 900_000_000,
    };

    private static readonly DetectedGpu T4 = new("Tesla T4", 15360);
    private static readonly DetectedGpu A10G = new("NVIDIA A10G", 23028);
    private static readonly DetectedGpu A100_40 = new("NVIDIA A100-SXM4-40GB", 40960);
    private static readonly DetectedGpu A100_80 = new("NVIDIA A100-SXM4-80GB", 81920);
    private static readonly DetectedGpu H200 = new("NVIDIA H200", 143771);

    [Fact]
    public void T4SmallMatchesExactly()
    {
        // A 15 GB tier given as a 15 GiB cgroup limit is still exact (tables mix GB and GiB).
        var m = Matcher.Match(Facts(4, 15, 50, T4));
        Assert.Equal("t4-small", m.Flavor);
        Assert.True(m.Exact, m.Summary);
        Assert.Equal("matches t4-small", m.Summary);
        Assert.All(m.Fields, f => Assert.True(f.Ok));
        Assert.Equal("1x T4 16 GB", m.Fields.Single(f => f.Field == "gpu").Found);
    }

    [Fact]
    public void T4MediumIsPreferredOverSmallWhenItFits()
    {
        var m = Matcher.Match(Facts(8, 30, 100, T4));
        Assert.Equal("t4-medium", m.Flavor);
        Assert.True(m.Exact);
    }

    [Fact]
    public void RamSlightlyBelowNominalStillMatches()
    {
        // An OS reports a little less than the nominal figure: 14 GiB = 15.03 GB ≥ 90 % of 15 GB.
        var m = Matcher.Match(Facts(4, 13.9, 110, A10G));
        Assert.Equal("a10g-small", m.Flavor);
        var below = Matcher.Match(Facts(4, 12, 110, A10G)); // 12.9 GB < 13.5 GB
        Assert.Null(below.Flavor);
        Assert.Contains("ram: expected 15 GB, found 12.9 GB", below.Summary);
    }

    [Fact]
    public void A10GLargeAndA100Large()
    {
        Assert.Equal("a10g-large", Matcher.Match(Facts(12, 46, 200, A10G)).Flavor);
        var a100 = Matcher.Match(Facts(12, 142 * 0.93, 1000, A100_40));
        Assert.Equal("a100-large", a100.Flavor);
        Assert.True(a100.Exact, a100.Summary);
    }

    [Fact]
    public void A100With80GbMatchesA100LargeButNotExactly()
    {
        var m = Matcher.Match(Facts(12, 140, 1000, A100_80));
        Assert.Equal("a100-large", m.Flavor);
        Assert.False(m.Exact);
        Assert.Contains("gpuMemory", m.Summary);
    }

    [Fact]
    public void ExpectA10GSmallOnAT4NamesEveryDifferingField()
    {
        var m = Matcher.Compare(Facts(4, 15, 50, T4), "a10g-small");
        Assert.Null(m.Flavor);
        Assert.Equal("a10g-small", m.Expected);
        Assert.StartsWith("does not match a10g-small: expected 1x A10G 24 GB, found 1x T4 16 GB", m.Summary);
        var bad = m.Fields.Where(f => !f.Ok).Select(f => f.Field).ToList();
        Assert.Equal(["gpu", "gpuMemory", "disk"], bad); // 50 GB disk < 110 GB; vCPU and RAM agree
        Assert.Contains("gpu: expected 1x A10G 24 GB, found 1x T4 16 GB", m.Mismatches);
    }

    [Fact]
    public void ExpectThatMatches()
    {
        var m = Matcher.Compare(Facts(4, 15, 110, A10G), "a10g-small");
        Assert.Equal("a10g-small", m.Flavor);
        Assert.Equal("matches a10g-small", m.Summary);
        Assert.Empty(m.Mismatches);
    }

    [Fact]
    public void UnknownFlavorSuggestsTheClosestId()
    {
        var e = Assert.Throws<CatalogueException>(() => Matcher.Compare(Facts(4, 15, 50, T4), "a10g-smal"));
        Assert.Contains("unknown flavor 'a10g-smal' (did you mean a10g-small?)", e.Message);
    }

    [Fact]
    public void LentH200MatchesNoDefaultTierAndSaysSoPlainly()
    {
        var m = Matcher.Match(Facts(16, 125.8, 270, H200));
        Assert.Null(m.Flavor);
        Assert.False(m.Exact);
        Assert.StartsWith("no tier in the catalogue matches 1x H200 141 GB, 16 vCPU, 135.1 GB RAM", m.Summary);
        Assert.Equal("a100-large", m.Nearest);
        Assert.Contains("nearest: a100-large (expected 1x A100 40 GB, found 1x H200 141 GB; disk: expected 1000 GB", m.Summary);
        Assert.EndsWith("it fits the non-default catalogue entry h200", m.Summary);
        Assert.Equal("h200", m.NonDefaultMatch);
        Assert.False(m.Fields.Single(f => f.Field == "gpu").Ok);
    }

    /// <summary>The name and FB memory total nvidia-smi -q printed on the lent machine (the figures NVML gives).</summary>
    private static DetectedGpu H200FromSmi()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Catalogue", "Fixtures", "h200-nvidia-smi-q.txt"));
        string Value(string line) => line[(line.IndexOf(':') + 1)..].Trim();
        var name = Value(lines.First(l => l.TrimStart().StartsWith("Product Name")));
        var fb = Array.FindIndex(lines, l => l.Trim() == "FB Memory Usage");
        var total = Value(lines[fb + 1]);
        Assert.EndsWith(" MiB", total);
        return new DetectedGpu(name, long.Parse(total[..^4]));
    }

    [Fact]
    public void TheRealH200CaptureMatchesOnlyTheNonDefaultEntry()
    {
        var gpu = H200FromSmi();
        Assert.Equal(new DetectedGpu("NVIDIA H200", 143771), gpu);
        var m = Matcher.Match(Facts(16, 125.8, 270, gpu));
        Assert.Null(m.Flavor);
        Assert.StartsWith("no tier in the catalogue matches 1x H200 141 GB", m.Summary);
        Assert.Equal("h200", m.NonDefaultMatch);
        Assert.Equal("150.8 GB (143771 MiB) per GPU", m.Fields.Single(f => f.Field == "gpuMemory").Found);
    }

    [Fact]
    public void ExpectingTheNonDefaultH200EntryWorks()
    {
        var m = Matcher.Compare(Facts(16, 125.8, 270, H200), "h200");
        Assert.Equal("h200", m.Flavor);
        Assert.Equal(["gpu", "gpuMemory"], m.Fields.Select(f => f.Field));
    }

    [Fact]
    public void CpuOnlyHostsMatchCpuTiersByVcpuAndRam()
    {
        var basic = Matcher.Match(Facts(2, 15.5, 50));
        Assert.Equal("cpu-basic", basic.Flavor);
        Assert.True(basic.Exact, basic.Summary);
        Assert.Equal("cpu-upgrade", Matcher.Match(Facts(8, 32, 50)).Flavor);
        // This development machine's shape: 2 cores, 24 GB → cpu-basic, with more RAM than nominal.
        var dev = Matcher.Match(Facts(2, 23.4, 100));
        Assert.Equal("cpu-basic", dev.Flavor);
        Assert.False(dev.Exact);
        Assert.Equal("matches cpu-basic, with more than its nominal figures: ram 25.1 GB > 16 GB", dev.Summary);
        var tiny = Matcher.Match(Facts(1, 2, 20));
        Assert.Null(tiny.Flavor);
        Assert.Equal("cpu-basic", tiny.Nearest);
    }

    [Fact]
    public void AGpuHostNeverMatchesACpuTier()
    {
        var m = Matcher.Compare(Facts(2, 16, 50, T4), "cpu-basic");
        Assert.Null(m.Flavor);
        Assert.Contains("expected no GPU, found 1x T4 16 GB", m.Summary);
    }

    [Fact]
    public void TwoGpusDoNotMatchASingleGpuTier()
    {
        var m = Matcher.Match(Facts(24, 92, 400, A10G, A10G));
        Assert.Null(m.Flavor);
        Assert.Equal("a10g-largex2", m.NonDefaultMatch);
        Assert.Contains("found 2x A10G 24 GB", m.Summary);
    }

    [Fact]
    public void AMigSliceShowsItsOwnMemory()
    {
        var slice = new DetectedGpu("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 4864);
        var m = Matcher.Compare(Facts(12, 142, 1000, slice), "a100-large");
        Assert.False(m.Fields.Single(f => f.Field == "gpuMemory").Ok);
        Assert.Equal("does not match a100-large: gpuMemory: expected 40 GB per GPU, found 5.1 GB (4864 MiB) per GPU", m.Summary);
        Assert.StartsWith("1x A100 5.1 GB,", m.Found);
    }

    [Fact]
    public void UnknownGpuInventoryIsNotCompared()
    {
        var m = Matcher.Match(Facts(4, 15, 50) with { Gpus = null });
        Assert.Contains("GPU not compared", m.Summary);
        Assert.True(m.Fields.Single(f => f.Field == "gpu").Ok);
    }

    [Fact]
    public void TierJsonUsesContractNames()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(Matcher.Match(Facts(4, 15, 50, T4)),
            GpuRunner.Diagnostics.Host.HostJsonContext.Default.TierMatch);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("t4-small", doc.RootElement.GetProperty("flavor").GetString());
        Assert.True(doc.RootElement.GetProperty("exact").GetBoolean());
        var field = doc.RootElement.GetProperty("fields")[0];
        foreach (var p in new[] { "field", "expected", "found", "ok" }) Assert.True(field.TryGetProperty(p, out _), p);
        Assert.False(doc.RootElement.TryGetProperty("mismatches", out _));
    }
}
