using System.Text.Json;
using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Gpu.Tests;

/// <summary>On a real GPU: detect agrees with nvidia-smi field by field, and the kernel check passes.</summary>
public class DetectVerifyGpuTests
{
    [Fact]
    public void DetectEqualsNvidiaSmi()
    {
        if (GpuFacts.NoGpuReason is { } noGpu) Assert.Skip(noGpu); // SkipWhen checks its reason even when it does not skip
        var detect = GpuFacts.Gpurunner("detect", "--json");
        Assert.True(detect.Code == 0, detect.StdErr + detect.StdOut);
        var ours = GpuFacts.ReadDetect(detect.StdOut);
        Assert.NotEmpty(ours.Gpus);

        var csv = GpuFacts.Run("nvidia-smi", $"--query-gpu={NvidiaSmi.QueryFields}", "--format=csv,noheader");
        Assert.Equal(0, csv.Code);
        Assert.Empty(NvidiaSmi.Differences(ours, NvidiaSmi.ParseQueryCsv(csv.StdOut)));

        var q = GpuFacts.Run("nvidia-smi", "-q");
        Assert.Equal(0, q.Code);
        var smi = NvidiaSmi.ParseQ(q.StdOut);
        Assert.NotNull(smi.CudaVersion);
        Assert.Empty(NvidiaSmi.Differences(ours, smi));
    }

    [Fact]
    public void KernelCheckPasses()
    {
        if (GpuFacts.NoGpuReason is { } noGpu) Assert.Skip(noGpu); // SkipWhen checks its reason even when it does not skip
        var verify = GpuFacts.Gpurunner("verify", "--json", "--only", "cuda.kernel");
        using var doc = JsonDocument.Parse(verify.StdOut);
        var kernel = Assert.Single(doc.RootElement.GetProperty("checks").EnumerateArray());
        Assert.Equal("cuda.kernel", kernel.GetProperty("id").GetString());
        Assert.True(kernel.GetProperty("status").GetString() == "PASS", kernel.GetProperty("evidence").GetString());
        Assert.Equal(0, verify.Code);
    }
}
