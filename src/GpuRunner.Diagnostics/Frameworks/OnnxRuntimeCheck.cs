using System.Diagnostics;
using GpuRunner.Diagnostics.Models;
using Microsoft.ML.OnnxRuntime;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>
/// ONNX Runtime as a .NET app sees it: which providers the installed build has, that the CPU EP computes the
/// shipped MLP correctly, and that a session on the CUDA EP really runs it on the GPU (no silent CPU fallback).
/// </summary>
public sealed class OnnxRuntimeCheck(bool? gpuPresent = null, string model = "mlp") : IFrameworkCheck
{
    public string Group => "onnx";

    public Task<IReadOnlyList<FrameworkCheckResult>> RunAsync(CancellationToken cancellationToken)
    {
        var results = new List<FrameworkCheckResult>();
        var sw = Stopwatch.StartNew();
        string[] providers;
        string version;
        try
        {
            providers = OrtEnv.Instance().GetAvailableProviders();
            version = OrtEnv.Instance().GetVersionString();
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or OnnxRuntimeException)
        {
            results.Add(new("onnx.runtime", "ONNX Runtime loads", CheckStatus.Fail, OnnxRuntimeDiagnosis.OneLine(e), OnnxRuntimeDiagnosis.Explain(e))
                { Seconds = sw.Elapsed.TotalSeconds });
            return Task.FromResult<IReadOnlyList<FrameworkCheckResult>>(results);
        }
        results.Add(new("onnx.runtime", "ONNX Runtime loads", CheckStatus.Pass, $"ONNX Runtime {version}; providers: {string.Join(", ", providers)}", null)
        {
            Seconds = sw.Elapsed.TotalSeconds,
            Facts = new Dictionary<string, string?> { ["version"] = version, ["providers"] = string.Join(",", providers) },
        });

        ModelManifest manifest;
        try { manifest = ModelLocator.Shipped(model); }
        catch (ModelException e)
        {
            results.Add(new("onnx.cpu", "ONNX Runtime CPU EP runs the model", CheckStatus.Skip, e.Message, null));
            results.Add(new("onnx.cuda", "ONNX Runtime CUDA EP runs the model on the GPU", CheckStatus.Skip, e.Message, null));
            return Task.FromResult<IReadOnlyList<FrameworkCheckResult>>(results);
        }
        results.Add(RunOn(manifest, "cpu", "onnx.cpu", "ONNX Runtime CPU EP runs the model"));

        var gpu = gpuPresent ?? GpuPresence.Probe();
        var hasCuda = providers.Contains("CUDAExecutionProvider");
        if (!gpu)
            results.Add(new("onnx.cuda", "ONNX Runtime CUDA EP runs the model on the GPU", CheckStatus.Skip,
                $"no NVIDIA GPU on this host ({(hasCuda ? "GPU" : "CPU")} build of ONNX Runtime installed)", null));
        else
            results.Add(RunOn(manifest, "cuda", "onnx.cuda", "ONNX Runtime CUDA EP runs the model on the GPU"));
        return Task.FromResult<IReadOnlyList<FrameworkCheckResult>>(results);
    }

    private static FrameworkCheckResult RunOn(ModelManifest manifest, string device, string id, string title)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var engine = OrtEngine.Create(manifest, device);
            var opened = sw.Elapsed.TotalSeconds;
            var (input, inputShape) = Npy.ReadFloat32(manifest.PathOf(manifest.TestInput));
            var (expected, _) = Npy.ReadFloat32(manifest.PathOf(manifest.ExpectedOutput));
            var output = engine.Run(input, inputShape[0]);
            var cmp = OutputComparison.Compare(output, expected, manifest.Tolerance);
            var evidence = $"{engine.Detail}: session {opened:0.00}s, {manifest.Name} output {cmp}";
            return new(id, title, cmp.Within ? CheckStatus.Pass : CheckStatus.Fail, evidence,
                cmp.Within ? null : new Diagnosis($"ONNX Runtime on {device} computes wrong numbers for {manifest.Name}",
                    "report it with this output; on a GPU, check the ECC counters (gpurunner verify --only driver)") { Code = "ort-wrong-output" })
                { Seconds = sw.Elapsed.TotalSeconds };
        }
        catch (EngineUnavailableException e)
        {
            return new(id, title, CheckStatus.Fail, e.Message, e.Diagnosis) { Seconds = sw.Elapsed.TotalSeconds };
        }
        catch (ModelException e)
        {
            return new(id, title, CheckStatus.Fail, e.Message, null) { Seconds = sw.Elapsed.TotalSeconds };
        }
    }
}
