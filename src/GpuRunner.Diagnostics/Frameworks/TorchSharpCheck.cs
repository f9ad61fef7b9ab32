using System.Diagnostics;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>
/// TorchSharp (the C# PyTorch): load a libtorch the way <see cref="TorchSharpLoader"/> does, then ask for CUDA,
/// move tensors to the GPU and compare a matmul with the CPU.
/// </summary>
public sealed class TorchSharpCheck(LibTorchOptions options, bool? gpuPresent = null) : IFrameworkCheck
{
    /// <summary>FP32 matmul GPU vs CPU (no TF32): only the summation order differs.</summary>
    public const double MatmulTolerance = 1e-4;

    public string Group => "torch";

    public async Task<IReadOnlyList<FrameworkCheckResult>> RunAsync(CancellationToken cancellationToken)
    {
        var gpu = gpuPresent ?? GpuPresence.Probe();
        var sw = Stopwatch.StartNew();
        var load = await TorchSharpLoader.EnsureLoadedAsync(options, cancellationToken);
        var facts = new Dictionary<string, string?> { ["libtorch"] = load.LibTorchDir, ["source"] = load.Source, ["trace"] = string.Join(" | ", load.Trace) };
        const string loadTitle = "TorchSharp loads a libtorch";
        const string cudaTitle = "TorchSharp sees the GPU and computes on it";
        if (!load.Loaded)
        {
            // Nothing to load on a machine without a GPU is not a failure; a libtorch that is there but cannot load is.
            var status = load.Diagnosis?.Code == "libtorch-not-found" && !gpu ? CheckStatus.Skip : CheckStatus.Fail;
            return
            [
                new("torch.load", loadTitle, status, status == CheckStatus.Skip ? "no libtorch on this host (and no GPU)" : load.Diagnosis!.Cause,
                    status == CheckStatus.Skip ? null : load.Diagnosis) { Seconds = sw.Elapsed.TotalSeconds, Facts = facts },
                new("torch.cuda", cudaTitle, CheckStatus.Skip, "TorchSharp did not load", null),
            ];
        }
        var loaded = new FrameworkCheckResult("torch.load", loadTitle, CheckStatus.Pass,
            $"TorchSharp {TorchSharpProbe.TorchSharpVersion} on libtorch {load.LibTorchDir} ({load.Source}{(load.HasCuda ? ", CUDA build" : ", CPU-only build")})", null)
            { Seconds = sw.Elapsed.TotalSeconds, Facts = facts };

        sw.Restart();
        var probe = TorchSharpProbe.Probe();
        var probeFacts = new Dictionary<string, string?>
        {
            ["cudaAvailable"] = probe.CudaAvailable.ToString().ToLowerInvariant(), ["deviceCount"] = probe.DeviceCount.ToString(),
            ["cudnnAvailable"] = probe.CudnnAvailable.ToString().ToLowerInvariant(), ["matmulMaxRelDiff"] = probe.MatmulMaxRelDiff?.ToString("e2"),
        };
        FrameworkCheckResult Cuda(CheckStatus s, string evidence, Diagnosis? d) =>
            new("torch.cuda", cudaTitle, s, evidence, d) { Seconds = sw.Elapsed.TotalSeconds, Facts = probeFacts };
        if (!probe.CudaAvailable)
        {
            if (!gpu) return [loaded, Cuda(CheckStatus.Skip, "no NVIDIA GPU on this host; torch.cuda.is_available() = false", null)];
            return [loaded, Cuda(CheckStatus.Fail, "torch.cuda.is_available() = false",
                load.HasCuda ? new Diagnosis("the CUDA libtorch loaded but CUDA initialisation failed",
                    "run gpurunner verify --only python to see PyTorch's own error text for this libtorch") { Code = "libtorch-cuda-init" }
                : TorchSharpLoader.CpuOnly)];
        }
        var head = $"cuda available, {probe.DeviceCount} device(s), cuDNN {(probe.CudnnAvailable ? "available" : "missing")}";
        if (probe.Error is not null || probe.MatmulMaxRelDiff is null)
            return [loaded, Cuda(CheckStatus.Fail, $"{head}; tensor on cuda failed: {probe.Error}",
                PythonFailureModes.Match(probe.Error ?? "") ?? new Diagnosis("a tensor operation on the GPU failed", "see the error; run gpurunner verify --only driver"))];
        var ok = probe.MatmulMaxRelDiff <= MatmulTolerance;
        return [loaded, Cuda(ok ? CheckStatus.Pass : CheckStatus.Fail,
            $"{head}; 512x512 matmul on cuda vs cpu: max rel diff {probe.MatmulMaxRelDiff:0.##e+0} (limit {MatmulTolerance:g})",
            ok ? null : new Diagnosis("the GPU's matmul result differs from the CPU's", "check ECC counters and clocks (gpurunner verify); report the GPU") { Code = "torch-wrong-result" })];
    }
}
