using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Requirements;

namespace GpuRunner.Diagnostics.Tests.Requirements;

public class CudaPreflightTests
{
    private static readonly CudaPreflight Preflight = CudaPreflight.Default();

    private static PreflightReport CheckSample(string name, string driver) =>
        Preflight.Check(RequirementsParser.ParseFile(Samples.Path(name)), CudaVersion.TryParse(driver)!.Value, name, "--driver-cuda");

    private static PreflightReport CheckText(string text, string driver) =>
        Preflight.Check(RequirementsParser.ParseText(text, "/tmp/gpurunner-req-test/r.txt"), CudaVersion.TryParse(driver)!.Value, "r.txt", "test");

    private static PreflightItem Single(PreflightReport r, string package) => r.Items.Single(i => i.Package == package);

    [Fact]
    public void DocumentPytorchExampleOnAnOldDriverFailsAndSuggestsThePinnedCu113Build()
    {
        // Unpinned torch with an *extra* index: pip takes PyPI's newest torch, not the cu113 build.
        var r = CheckSample("pytorch-cu113.txt", "11.4");
        Assert.Equal("FAIL", r.Verdict);
        var torch = Single(r, "torch");
        Assert.Equal(PreflightStatus.Fail, torch.Status);
        Assert.Contains("unpinned, so pip takes the newest torch on any index", torch.Message);
        Assert.Equal(["--extra-index-url https://download.pytorch.org/whl/cu113", "torch==1.12.1+cu113"], torch.InsteadUse);
    }

    [Fact]
    public void DocumentPytorchExampleOnTheH200DriverIsAWarningOnly()
    {
        var r = CheckSample("pytorch-cu113.txt", "13.0");
        Assert.Equal("WARN", r.Verdict);
        Assert.Equal(["--extra-index-url https://download.pytorch.org/whl/cu130", "torch==2.11.0+cu130"], Single(r, "torch").InsteadUse);
    }

    [Fact]
    public void DocumentJaxExampleInstallsCpuOnlyJaxTodayWhateverTheDriver()
    {
        foreach (var driver in new[] { "11.8", "12.2", "13.0" })
        {
            var r = CheckSample("jax-cuda11-pip.txt", driver);
            Assert.Equal("FAIL", r.Verdict);
            var jax = Single(r, "jax");
            Assert.Contains("no 'cuda11_pip' extra (the last with it is 0.4.25)", jax.Message);
            Assert.Equal(PreflightStatus.Fail, Single(r, "jaxlib").Status); // the extra is dead, so jaxlib is CPU-only too
        }
        Assert.Equal(["jax[cuda12]"], Single(CheckSample("jax-cuda11-pip.txt", "12.2"), "jax").InsteadUse);
        Assert.Equal(
            ["-f https://storage.googleapis.com/jax-releases/jax_cuda_releases.html", "jax[cuda11_pip]==0.4.25", "jaxlib==0.4.25"],
            Single(CheckSample("jax-cuda11-pip.txt", "11.8"), "jax").InsteadUse);
    }

    [Fact]
    public void DocumentTensorflowExample()
    {
        var old = CheckSample("tensorflow.txt", "11.4");
        Assert.Equal("FAIL", old.Verdict);
        Assert.Equal(["tensorflow==2.11.1"], Single(old, "tensorflow").InsteadUse); // newest TF built for CUDA <= 11.4
        var modern = CheckSample("tensorflow.txt", "12.2");
        Assert.Equal("WARN", modern.Verdict);
        var tf = Single(modern, "tensorflow");
        Assert.Contains("[and-cuda]", tf.Message);
        Assert.Equal(["tensorflow[and-cuda]==2.15.1"], tf.InsteadUse);
    }

    [Fact]
    public void GoodFilePasses()
    {
        var r = CheckSample("good-cuda12.txt", "12.2");
        Assert.Equal("PASS", r.Verdict);
        Assert.Equal(5, r.Items.Count);
        Assert.All(r.Items, i => Assert.Equal(PreflightStatus.Ok, i.Status));
        Assert.Equal(2, r.OtherRequirements);
        Assert.Equal("PASS", CheckSample("good-cuda12.txt", "13.0").Verdict);
    }

    [Fact]
    public void GoodFileOnACuda120DriverRunsThroughMinorVersionCompatibility()
    {
        var r = CheckSample("good-cuda12.txt", "12.0");
        Assert.Equal("WARN", r.Verdict);
        Assert.Contains("minor-version compatibility", Single(r, "torch").Message);
        Assert.Equal("driver >= 530.30.02 (>= 525.60.13 through minor-version compatibility)", Single(r, "torch").RequiredDriver);
    }

    [Fact]
    public void CpuOnlyBuildsFailWithTheGpuLine()
    {
        var r = CheckSample("cpu-only.txt", "12.2");
        Assert.Equal("FAIL", r.Verdict);
        Assert.All(r.Items, i => Assert.Equal(PreflightStatus.Fail, i.Status));
        Assert.Equal(["--extra-index-url https://download.pytorch.org/whl/cu121", "torch==2.3.1+cu121"], Single(r, "torch").InsteadUse);
        Assert.Equal(["tensorflow[and-cuda]==2.15.0"], Single(r, "tensorflow-cpu").InsteadUse);
        Assert.Equal(["onnxruntime-gpu==1.18.0"], Single(r, "onnxruntime").InsteadUse);
        Assert.Equal(["jax[cuda12]==0.4.30"], Single(r, "jax").InsteadUse);
    }

    [Fact]
    public void TooNewBuildsFailOnACuda11Driver()
    {
        var r = CheckSample("too-new.txt", "11.8");
        Assert.Equal("FAIL", r.Verdict);
        Assert.All(r.Items, i => Assert.Equal(PreflightStatus.Fail, i.Status));
        Assert.Equal("driver >= 550.54.14 (>= 525.60.13 through minor-version compatibility)", Single(r, "torch").RequiredDriver);
        Assert.Equal("torch==2.5.1+cu118", Single(r, "torch").InsteadUse[1]);
        Assert.Equal(["nvidia-cudnn-cu11"], Single(r, "nvidia-cudnn-cu12").InsteadUse);
        Assert.Equal(["cupy-cuda11x"], Single(r, "cupy-cuda12x").InsteadUse);
        Assert.Equal(["tensorflow[and-cuda]==2.14.1"], Single(r, "tensorflow").InsteadUse);
        // The same file on a CUDA 12.4 driver is fine.
        Assert.Equal("PASS", CheckSample("too-new.txt", "12.4").Verdict);
    }

    [Fact]
    public void LayeredFileSkipsOtherPlatformsAndPasses()
    {
        var r = CheckSample("layered.txt", "11.8");
        Assert.Equal("PASS", r.Verdict);
        Assert.Equal(PreflightStatus.Skip, Single(r, "jaxlib").Status);
        Assert.Equal(PreflightStatus.Ok, Single(r, "torchaudio").Status);
        Assert.Equal(new CudaVersion(11, 8).ToString(), Single(r, "nvidia-cuda-runtime-cu11").Build!.Split(' ')[1]);
    }

    [Theory]
    [InlineData("torch==2.3.1+cu127", "unknown CUDA tag 'cu127'")] // there was never a CUDA 12.7
    [InlineData("torch==2.3.1+cu12", "unknown CUDA tag 'cu12'")]
    [InlineData("torch==2.3.1+cuda121", "unknown CUDA tag 'cuda121'")]
    [InlineData("jax[cuda99]", "unknown CUDA extra 'cuda99'")]
    [InlineData("cupy-cuda127", "unknown CUDA tag 'cuda127'")]
    public void UnknownCudaTagsFail(string line, string expected)
    {
        var r = CheckText(line + "\n", "12.2");
        Assert.Equal("FAIL", r.Verdict);
        Assert.Contains(expected, r.Items.Single().Message);
    }

    [Fact]
    public void ABuildThatWasNeverPublishedFails()
    {
        var r = CheckText("torch==2.3.1+cu113\n", "12.2");
        Assert.Contains("never published as cu113", r.Items.Single().Message);
        Assert.Equal("torch==2.3.1+cu121", r.Items.Single().InsteadUse[1]);
    }

    [Fact]
    public void PinnedTorchWithAnExtraIndexTakesTheIndexBuild()
    {
        var r = CheckText("--extra-index-url https://download.pytorch.org/whl/cu118\ntorch==2.1.2\n", "11.8");
        Assert.Equal("PASS", r.Verdict);
        Assert.StartsWith("CUDA 11.8", r.Items.Single().Build);
    }

    [Fact]
    public void PlainPypiTorchUsesTheReleaseTable()
    {
        var r = CheckText("torch==2.5.1\ntorchvision==0.20.1\n", "12.2");
        Assert.Equal("CUDA 12.4 (PyPI's 2.5 build)", Single(r, "torch").Build);
        Assert.Equal(PreflightStatus.Warn, Single(r, "torch").Status); // 12.4 on a 12.2 driver: minor-version compatibility
        Assert.Equal(PreflightStatus.Warn, Single(r, "torchvision").Status);
        var old = CheckText("torch==2.5.1\n", "11.8");
        Assert.Equal(PreflightStatus.Fail, old.Items.Single().Status);
    }

    [Fact]
    public void TensorflowGpuAfter211IsGone()
    {
        var r = CheckText("tensorflow-gpu==2.12.0\n", "12.2");
        Assert.Equal("FAIL", r.Verdict);
        Assert.Contains("tensorflow-gpu was removed", r.Items.Single().Message);
    }

    [Fact]
    public void OnnxruntimeCpuBesideGpuShadowsIt()
    {
        var r = CheckText("onnxruntime-gpu==1.19.2\nonnxruntime==1.19.2\n", "12.2");
        Assert.Equal(PreflightStatus.Ok, Single(r, "onnxruntime-gpu").Status);
        Assert.Contains("shadows", Single(r, "onnxruntime").Message);
    }

    [Fact]
    public void Cuda13NvidiaWheelsWithoutSuffixAreRecognised()
    {
        // The lent H200's image: nvidia-cuda-runtime 13.0.96 (CUDA 13 wheels have no -cuNN suffix).
        var r = CheckText("nvidia-cuda-runtime==13.0.96\nnvidia-ml-py==13.610.43\n", "12.8");
        var item = r.Items.Single();
        Assert.Equal("nvidia-cuda-runtime", item.Package);
        Assert.Equal(PreflightStatus.Fail, item.Status);
        Assert.Equal(1, r.OtherRequirements);
    }

    [Fact]
    public void NoCudaRelatedRequirementPasses()
    {
        var r = CheckText("numpy\nrequests==2.32.3\n", "12.2");
        Assert.Equal("PASS", r.Verdict);
        Assert.Empty(r.Items);
        Assert.Equal(2, r.OtherRequirements);
    }

    [Fact]
    public void JsonHasStatusWords()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(CheckSample("cpu-only.txt", "12.2"), RequirementsJsonContext.Default.PreflightReport);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("gpurunner.requirements/1", doc.RootElement.GetProperty("schema").GetString());
        Assert.Equal("FAIL", doc.RootElement.GetProperty("items")[0].GetProperty("status").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("items")[0].GetProperty("insteadUse").GetArrayLength());
    }

    [Fact]
    public void DriverVersionMapsToTheCudaItCertainlySupports()
    {
        var table = CudaDriverTable.LoadDefault();
        Assert.Equal(new CudaVersion(13, 0), table.HighestCudaFor("580.159.04")); // the lent H200
        Assert.Equal(new CudaVersion(12, 2), table.HighestCudaFor("535.104.05"));
        Assert.Equal(new CudaVersion(11, 4), table.HighestCudaFor("470.82.01"));
        Assert.Null(table.HighestCudaFor("390.1"));
    }
}
