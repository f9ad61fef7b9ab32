using System.Diagnostics;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Models;
using Microsoft.ML.OnnxRuntime;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>onnx.runtime: the ONNX Runtime native library loads; which providers this build has.</summary>
public sealed class OnnxRuntimeLoadCheck : ICheck
{
    public string Id => "onnx.runtime";
    public string Title => "ONNX Runtime loads";
    public TimeSpan Deadline => TimeSpan.FromSeconds(30);

    public CheckOutcome Run(CheckContext context) => Run();

    public static CheckOutcome Run()
    {
        try
        {
            var providers = OrtEnv.Instance().GetAvailableProviders();
            return CheckOutcome.Pass($"ONNX Runtime {OrtEnv.Instance().GetVersionString()}; providers: {string.Join(", ", providers)}");
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or OnnxRuntimeException)
        {
            return CheckOutcome.Fail(OnnxRuntimeDiagnosis.OneLine(e), OnnxRuntimeDiagnosis.Explain(e));
        }
    }
}

/// <summary>
/// onnx.cpu / onnx.cuda: a session on that execution provider runs the shipped MLP and matches the expected
/// outputs. On CUDA the CPU fallback is switched off, so a PASS means the model really ran on the GPU.
/// </summary>
public sealed class OnnxModelCheck(string device, bool? gpuPresent = null, string model = "mlp") : ICheck
{
    public string Id => $"onnx.{device}";
    /// <summary>The driver checks tell whether this host has a GPU (FAIL vs SKIP).</summary>
    public IReadOnlyList<string> Requires => ["cuda.init"];
    public string Title => device == "cuda" ? "ONNX Runtime CUDA EP runs the model on the GPU" : "ONNX Runtime CPU EP runs the model";
    /// <summary>CUDA EP session creation took 0.4–1.2 s on the H200; cuDNN/cuBLAS loading can take longer cold.</summary>
    public TimeSpan Deadline => TimeSpan.FromSeconds(90);

    public CheckOutcome Run(CheckContext context) => Run(FrameworkChecks.GpuPresent(context, gpuPresent));

    /// <summary>Whether this gpurunner was built to carry the CUDA build of ONNX Runtime (-p:OrtGpu=true).</summary>
#if ORT_GPU
    public const bool GpuBuild = true;
#else
    public const bool GpuBuild = false;
#endif

    public CheckOutcome Run(bool gpu)
    {
        if (device == "cuda" && !gpu)
            return CheckOutcome.Skip($"no NVIDIA GPU on this host ({(GpuBuild ? "GPU" : "CPU")} build of ONNX Runtime)");
        // The default build carries the CPU package on purpose (the CUDA one is 284 MB): not the user's fault, not a FAIL.
        // A GPU build that finds the CPU library (a bad copy) does fail below, with the ort-cpu-package diagnosis.
        if (device == "cuda" && !GpuBuild)
            return CheckOutcome.Skip("this gpurunner carries the CPU build of ONNX Runtime; publish with -p:OrtGpu=true to check the CUDA EP (gpurunner run --engine ort --device cuda names the cause)");
        ModelManifest manifest;
        try { manifest = ModelLocator.Shipped(model); }
        catch (ModelException e) { return CheckOutcome.Skip(e.Message); }

        var sw = Stopwatch.StartNew();
        try
        {
            using var engine = OrtEngine.Create(manifest, device);
            var opened = sw.Elapsed.TotalSeconds;
            var (input, inputShape) = Npy.ReadFloat32(manifest.PathOf(manifest.TestInput));
            var (expected, _) = Npy.ReadFloat32(manifest.PathOf(manifest.ExpectedOutput));
            var cmp = OutputComparison.Compare(engine.Run(input, inputShape[0]), expected, manifest.Tolerance);
            var evidence = $"{engine.Detail}: session {opened:0.00}s, {manifest.Name} output {cmp}";
            return cmp.Within ? CheckOutcome.Pass(evidence) : CheckOutcome.Fail(evidence, new("ort-wrong-output",
                $"ONNX Runtime on {device} computes wrong numbers for {manifest.Name}",
                "report it with this output; on a GPU, check the ECC counters (gpurunner verify)"));
        }
        catch (EngineUnavailableException e)
        {
            return CheckOutcome.Fail(e.Message, e.Diagnosis);
        }
        catch (ModelException e)
        {
            return CheckOutcome.Fail(e.Message, new("model-unreadable", e.Message, "restore the shipped models/ folder beside gpurunner"));
        }
    }
}
