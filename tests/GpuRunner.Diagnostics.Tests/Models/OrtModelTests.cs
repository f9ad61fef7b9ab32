using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;
using GpuRunner.Diagnostics.Models;

namespace GpuRunner.Diagnostics.Tests.Models;

public class OrtModelTests
{
    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void OrtCpuMatchesTheShippedExpectedOutputs(string name)
    {
        var manifest = ModelLocator.Shipped(name);
        using var engine = OrtEngine.Create(manifest, "cpu");
        var (input, shape) = Npy.ReadFloat32(manifest.PathOf(manifest.TestInput));
        var (expected, expectedShape) = Npy.ReadFloat32(manifest.PathOf(manifest.ExpectedOutput));
        var output = engine.Run(input, shape[0]);
        Assert.Equal(expectedShape.Aggregate(1, (a, b) => a * b), output.Length);
        var cmp = OutputComparison.Compare(output, expected, manifest.Tolerance);
        Assert.True(cmp.Within, cmp.ToString());
        // float32 vs the float64 reference: far inside the documented tolerance.
        Assert.True(cmp.MaxAbsDiff < 1e-5, cmp.ToString());
    }

    [Fact]
    public void MlpClassifiesTheFixedInputsAsLabelled()
    {
        var manifest = ModelLocator.Shipped("mlp");
        var (expected, shape) = Npy.ReadFloat32(manifest.PathOf(manifest.ExpectedOutput));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest.PathOf("mlp.json")));
        var labels = doc.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var argmax = Enumerable.Range(0, shape[0]).Select(r => Enumerable.Range(0, shape[1]).MaxBy(c => expected[r * shape[1] + c])).ToArray();
        // A trained classifier (held-out accuracy 0.889): most of the 8 fixed rows are right, not all necessarily.
        Assert.True(argmax.Zip(labels).Count(p => p.First == p.Second) >= 6, $"{string.Join(",", argmax)} vs {string.Join(",", labels)}");
    }

    [Fact]
    public void BatchDimensionIsDynamic()
    {
        var manifest = ModelLocator.Shipped("mlp");
        using var engine = OrtEngine.Create(manifest, "cpu");
        var (input, _) = Npy.ReadFloat32(manifest.PathOf(manifest.TestInput));
        var one = engine.Run(input[..256], 1);
        var eight = engine.Run(input, 8);
        Assert.Equal(10, one.Length);
        Assert.Equal(one, eight[..10]);
    }

    [Theory]
    [InlineData("mlp", 1)]
    [InlineData("cnn", 64)]
    public void BoundBatchWritesTheSameOutputIntoOneBufferEveryRun(string name, int batch)
    {
        var manifest = ModelLocator.Shipped(name);
        using var engine = OrtEngine.Create(manifest, "cpu");
        var (input, expected) = ManagedReference.TiledTestData(manifest, batch);
        using var bound = engine.Bind(input, batch);
        var buffer = bound.Output;
        bound.Run();
        var first = buffer.ToArray();
        // The binding holds its own copy of the input, as Python's benchmark holds one array: the caller's may change.
        Array.Clear(input);
        Array.Clear(buffer);
        bound.Run();
        Assert.Same(buffer, bound.Output);
        Assert.Equal(first, bound.Output);
        var cmp = OutputComparison.Compare(bound.Output, expected, manifest.Tolerance);
        Assert.True(cmp.Within, cmp.ToString());
    }

    [Fact]
    public void RunnerSettlesTheJitOnlyWhenAsked()
    {
        // Tests run on the JIT runtime: asked to settle, the runner warms up beyond the requested count; not asked, it does not.
        var manifest = ModelLocator.Shipped("mlp");
        var settled = ModelRunner.Run(manifest, new RunSettings { Engine = "ort", Device = "cpu", Warmup = 1, Iterations = 3, Batch = 2, SettleJit = true });
        Assert.Equal("PASS", settled.Verdict);
        Assert.True(settled.JitWarmup > 0);
        Assert.True(settled.JitWarmupSeconds > 0);
        var plain = ModelRunner.Run(manifest, new RunSettings { Engine = "ort", Device = "cpu", Warmup = 1, Iterations = 3, Batch = 2 });
        Assert.Equal("PASS", plain.Verdict);
        Assert.Equal(0, plain.JitWarmup);
    }

    [SkippableFact]
    public void CpuPackageAskedForCudaIsNamedAsSuch()
    {
        // The CPU package is what the default build references: asking it for CUDA is failure mode "CPU package
        // installed where GPU meant" (EntryPointNotFoundException for OrtSessionOptionsAppendExecutionProvider_CUDA).
        Skip.If(OnnxModelCheck.GpuBuild, "built with -p:OrtGpu=true");
        var manifest = ModelLocator.Shipped("mlp");
        var e = Assert.Throws<EngineUnavailableException>(() => OrtEngine.Create(manifest, "cuda"));
        Assert.Equal(OnnxRuntimeDiagnosis.CpuPackageCode, e.Diagnosis.Name);
        Assert.Contains("Gpu.Linux", e.Diagnosis.Fix);
    }

    [SkippableFact]
    public void ChecksReportProvidersAndCpuResultAndSkipCudaInTheCpuBuild()
    {
        var runtime = OnnxRuntimeLoadCheck.Run();
        Assert.Equal(CheckStatus.Pass, runtime.Status);
        Assert.Contains("CPUExecutionProvider", runtime.Evidence);
        var cpu = new OnnxModelCheck("cpu").Run(gpu: true);
        Assert.True(cpu.Status == CheckStatus.Pass, cpu.Evidence);
        // The default build carries the CPU package by design: verify skips the CUDA EP and says how to get it.
        Skip.If(OnnxModelCheck.GpuBuild, "built with -p:OrtGpu=true");
        var cuda = new OnnxModelCheck("cuda").Run(gpu: true);
        Assert.Equal(CheckStatus.Skip, cuda.Status);
        Assert.Contains("-p:OrtGpu=true", cuda.Evidence);
    }

    [Fact]
    public void WithoutAGpuTheCudaCheckIsSkipped() =>
        Assert.Equal(CheckStatus.Skip, new OnnxModelCheck("cuda").Run(gpu: false).Status);

    [Fact]
    public void ComparisonFlagsValuesBeyondTolerance()
    {
        var tol = new Tolerance { Abs = 1e-4, Rel = 1e-3 };
        Assert.True(OutputComparison.Compare([1.0f, 0.5f], [1.0005f, 0.5f], tol).Within);
        var bad = OutputComparison.Compare([1.0f, 0.5f], [1.01f, 0.5f], tol);
        Assert.False(bad.Within);
        Assert.Equal(1, bad.Mismatches);
        Assert.False(OutputComparison.Compare([float.NaN], [1f], tol).Within);
        Assert.False(OutputComparison.Compare([1f], [1f, 2f], tol).Within);
    }

    [Fact]
    public void BadManifestIsAOneLineModelError()
    {
        var dir = Directory.CreateTempSubdirectory("gpurunner-model-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "x.json"), "{ not json");
            var e = Assert.Throws<ModelException>(() => ModelManifest.Load(Path.Combine(dir, "x.onnx")));
            Assert.Contains("not a valid model manifest", e.Message);
            Assert.Throws<ModelException>(() => ModelManifest.Load(Path.Combine(dir, "missing.onnx")));
        }
        finally { Directory.Delete(dir, true); }
    }
}

public class ManagedReferenceTests
{
    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void WeightsBinAndManifestReproduceTheExpectedOutputs(string name)
    {
        // What TorchSharp and the native engine read (.bin + layers) must be the network the .onnx holds.
        var manifest = ModelLocator.Shipped(name);
        var (input, expected) = ManagedReference.TiledTestData(manifest, 3);
        var output = ManagedReference.Run(manifest, input, 3);
        var cmp = OutputComparison.Compare(output, expected, manifest.Tolerance);
        Assert.True(cmp.Within, cmp.ToString());
        Assert.True(cmp.MaxAbsDiff < 1e-6, cmp.ToString());
    }
}
