using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Models;

/// <summary>
/// model.device: the shipped MLP moved onto the GPU, run, and compared with the CPU reference. It uses the ORT CUDA
/// EP or TorchSharp when their checks passed in this run, else GpuRunner's own PTX kernels, so "the model runs on the
/// device" is proven wherever the CUDA driver works.
/// </summary>
public sealed class ModelDeviceCheck(LibTorchOptions libTorch, int iterations = 20) : ICheck
{
    public string Id => "model.device";
    public string Title => "A real model runs on the GPU and matches the CPU";
    public TimeSpan Deadline => TimeSpan.FromSeconds(120);
    public IReadOnlyList<string> Requires => ["cuda.init"];

    public CheckOutcome Run(CheckContext context)
    {
        if (!context.Passed("cuda.init")) return context.SkipBecause("cuda.init");
        var engine = context.Passed("onnx.cuda") ? "ort" : context.Passed("torch.cuda") ? "torch" : "native";
        ModelManifest model;
        try { model = ModelLocator.Shipped("mlp"); }
        catch (ModelException e) { return CheckOutcome.Skip(e.Message); }
        try
        {
            var r = ModelRunner.Run(model, new RunSettings { Engine = engine, Device = "cuda", Iterations = iterations, Warmup = 3, Batch = 64, LibTorch = libTorch });
            var c = r.Comparison;
            var evidence = $"{r.Model} via {r.Engine} ({r.Detail}): batch {r.Batch}, p50 {r.Latency.P50Ms:0.###} ms, " +
                           $"max abs diff {c.MaxAbsDiff:0.##e+0} vs CPU reference (tolerance abs {c.ToleranceAbs:g} + rel {c.ToleranceRel:g})";
            return c.Within ? CheckOutcome.Pass(evidence) : CheckOutcome.Fail(evidence, new Diagnosis("model-wrong-on-device",
                $"the {r.Engine} engine computes {c.Mismatches}/{c.Elements} outputs beyond tolerance on the GPU",
                "check ECC counters and clocks (gpu.health); try another engine with gpurunner run --engine ort|torch|native"));
        }
        catch (EngineUnavailableException e)
        {
            return CheckOutcome.Fail(e.Message, e.Diagnosis);
        }
    }
}
