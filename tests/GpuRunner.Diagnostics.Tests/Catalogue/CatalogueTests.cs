using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Tests.Catalogue;

public class CatalogueTests
{
    private static readonly HardwareCatalogue Default = HardwareCatalogue.LoadDefault();

    [Theory]
    // The source document's seven tiers, exactly (spaces-gpus.md, hardware table).
    [InlineData("cpu-basic", null, 0, 2, 16, 50, 0L)]
    [InlineData("cpu-upgrade", null, 0, 8, 32, 50, 30_000L)]
    [InlineData("t4-small", "T4", 16, 4, 15, 50, 600_000L)]
    [InlineData("t4-medium", "T4", 16, 8, 30, 100, 900_000L)]
    [InlineData("a10g-small", "A10G", 24, 4, 15, 110, 1_050_000L)]
    [InlineData("a10g-large", "A10G", 24, 12, 46, 200, 3_150_000L)]
    [InlineData("a100-large", "A100", 40, 12, 142, 1000, 4_130_000L)]
    public void DefaultTiersAreTheDocumentsTable(string id, string? gpu, int gpuGb, int vcpu, int ram, int disk, long price)
    {
        var f = Default.Find(id);
        Assert.NotNull(f);
        Assert.True(f.IsDefault);
        Assert.Equal(gpu, f.Gpu?.Model);
        Assert.Equal(gpuGb, f.Gpu?.MemoryGB ?? 0);
        Assert.Equal(vcpu, f.Vcpu);
        Assert.Equal(ram, f.RamGB);
        Assert.Equal(disk, f.DiskGB);
        Assert.Equal(price, f.PriceMicroUsdPerHour);
    }

    [Fact]
    public void ExactlySevenDefaultTiersAndNewerOnesAreMarked()
    {
        Assert.Equal(7, Default.DefaultFlavors.Count());
        foreach (var id in new[] { "l4x1", "l40sx8", "a10g-largex4", "h100", "h200", "zero-a10g" })
            Assert.False(Default.Find(id)!.IsDefault, id);
        Assert.Equal(10_000_000, Default.Find("h100")!.PriceMicroUsdPerHour);
        Assert.Equal(400_000, Default.NewerPrices.Single(p => p.Id == "t4-small").PriceMicroUsdPerHour);
    }

    [Fact]
    public void MoneyIsIntegerMicroUsd()
    {
        Assert.Equal(10_000, Default.Find("t4-small")!.PriceMicroUsdPerMinute);
        Assert.Equal(68_834, Default.Find("a100-large")!.PriceMicroUsdPerMinute); // 4.13 $/h / 60 = 68,833.3, rounded up as billed
        Assert.Equal("$1.05", Money.Format(1_050_000));
        Assert.Equal("$0.03", Money.Format(30_000));
        Assert.Equal("$0.068833", Money.Format(68_833));
    }

    [Theory]
    [InlineData("Tesla T4", "t4")]
    [InlineData("NVIDIA A10G", "a10g")]
    [InlineData("NVIDIA A100-SXM4-80GB", "a100-80gb")]
    [InlineData("NVIDIA A100-PCIE-40GB", "a100-40gb")]
    [InlineData("NVIDIA A100 80GB PCIe", "a100-80gb")]
    [InlineData("NVIDIA H100 80GB HBM3", "h100-sxm")]
    [InlineData("NVIDIA H200", "h200")]
    [InlineData("nvidia l40s", "l40s")]
    [InlineData("NVIDIA A10", null)]
    [InlineData("NVIDIA GeForce RTX 4090", null)]
    public void NvmlNamesIdentifyModels(string name, string? id) => Assert.Equal(id, Default.IdentifyGpu(name)?.Id);

    [Fact]
    public void CudaTableCoversEveryReleaseFrom11To13()
    {
        var table = CudaDriverTable.LoadDefault();
        foreach (var v in new[] { "11.0", "11.1", "11.2", "11.3", "11.4", "11.5", "11.6", "11.7", "11.8",
                     "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.8", "12.9", "13.0" })
            Assert.False(string.IsNullOrEmpty(table.Find(CudaVersion.TryParse(v)!.Value)?.MinDriver), v);
        Assert.Null(table.Find(new CudaVersion(12, 7))); // never shipped
        Assert.Equal("580.65.06", table.Find(new CudaVersion(13, 0))!.MinDriver);
        Assert.Equal("525.60.13", table.FindMajor(12)!.MinorCompatDriver);
        Assert.Equal(new CudaVersion(12, 2), CudaVersion.FromDriverInteger(12020));
    }

    [Theory]
    [InlineData("{", "not valid")]
    [InlineData("{\"flavors\": []}", "no \"flavors\"")]
    [InlineData("{\"flavors\": [{\"id\": \"x\", \"vcpu\": 0, \"ramGB\": 1, \"diskGB\": 1, \"priceMicroUsdPerHour\": 1}]}", "flavor 'x': vcpu must be a positive integer")]
    [InlineData("{\"flavors\": [{\"id\": \"x\", \"vcpu\": 2, \"ramGB\": 1, \"diskGB\": 1, \"priceMicroUsdPerHour\": 0.6}]}", "priceMicroUsdPerHour")]
    [InlineData("{\"flavors\": [{\"id\": \"x\", \"gpu\": {\"model\": \"B200\", \"count\": 1, \"memoryGB\": 180}, \"vcpu\": 2, \"ramGB\": 1, \"diskGB\": 1, \"priceMicroUsdPerHour\": 1}]}", "gpu.model 'B200' is not a model")]
    [InlineData("{\"flavors\": [{\"id\": \"x\", \"vcpu\": 2}]}", "a default tier needs")]
    [InlineData("{\"flavors\": [{\"id\": \"x\", \"vcpu\": 2, \"ramGB\": 1, \"diskGB\": 1, \"priceMicroUsdPerHour\": 1}, {\"id\": \"x\", \"vcpu\": 2, \"ramGB\": 1, \"diskGB\": 1, \"priceMicroUsdPerHour\": 1}]}", "duplicate id")]
    public void BadCatalogueIsOneClearLine(string json, string expected)
    {
        var e = Assert.Throws<CatalogueException>(() => HardwareCatalogue.FromJson(json, "catalogue t.json"));
        Assert.StartsWith("catalogue t.json: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void UserFileComesFromOptionThenVariable()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gpurunner-cat-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            {"flavors": [{"id": "b200-box", "gpu": {"model": "B200", "count": 1, "memoryGB": 180}, "vcpu": 32, "ramGB": 256,
              "diskGB": 500, "priceMicroUsdPerHour": 12000000}],
             "gpus": [{"id": "b200", "model": "B200", "memoryGB": 180, "nvmlNames": ["NVIDIA B200"], "source": "test"}]}
            """);
        try
        {
            var fromOption = HardwareCatalogue.Resolve(path, _ => "/nonexistent");
            Assert.Equal(path, fromOption.Origin);
            Assert.Equal("b200", fromOption.IdentifyGpu("NVIDIA B200")!.Id);
            Assert.Equal("t4", fromOption.IdentifyGpu("Tesla T4")!.Id); // built-in GPU models stay known
            var fromEnv = HardwareCatalogue.Resolve(null, n => n == HardwareCatalogue.EnvironmentVariable ? path : null);
            Assert.NotNull(fromEnv.Find("b200-box"));
            Assert.Equal("built-in", HardwareCatalogue.Resolve(null, _ => null).Origin);
            var missing = Assert.Throws<CatalogueException>(() => HardwareCatalogue.Resolve("/no/such/cat.json"));
            Assert.StartsWith("catalogue /no/such/cat.json: cannot read", missing.Message);
        }
        finally { File.Delete(path); }
    }
}
