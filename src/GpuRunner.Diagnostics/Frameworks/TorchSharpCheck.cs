using GpuRunner.Diagnostics.Checks;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>torch.load: TorchSharp gets a libtorch (see <see cref="TorchSharpLoader"/>), or the real reason why not.</summary>
public sealed class TorchSharpLoadCheck(LibTorchOptions options, bool? gpuPresent = null) : ICheck
{
    public string Id => "torch.load";
    /// <summary>The driver checks tell whether this host has a GPU (FAIL vs SKIP).</summary>
    public IReadOnlyList<string> Requires => ["cuda.init"];
    public string Title => "TorchSharp loads a libtorch";
    /// <summary>Asking python for torch's folder is bounded by its own timeout; loading libtorch_cuda takes a few seconds.</summary>
    public TimeSpan Deadline => options.PythonTimeout + TimeSpan.FromSeconds(60);

    public CheckOutcome Run(CheckContext context) => Run(FrameworkChecks.GpuPresent(context, gpuPresent));

    public CheckOutcome Run(bool gpu)
    {
        var load = TorchSharpLoader.EnsureLoadedAsync(options).GetAwaiter().GetResult();
        if (!load.Loaded)
        {
            // No libtorch at all means the user does not use torch here: SKIP, saying where we looked. A libtorch that
            // is there but cannot load is a real failure.
            if (load.Diagnosis!.Name is "libtorch-not-found" or "torchsharp-needs-jit-build") return CheckOutcome.Skip(load.Diagnosis.Cause);
            // Evidence: the loader's own words for the library that failed; the diagnosis explains them.
            var last = load.Trace.Count > 0 ? load.Trace[^1] : load.Diagnosis.Cause;
            return CheckOutcome.Fail($"{last} (libtorch from {load.Source ?? "?"})", load.Diagnosis);
        }
        return CheckOutcome.Pass($"TorchSharp {TorchSharpProbe.TorchSharpVersion} on {load.LibTorchDir} ({load.Source}; {(load.HasCuda ? "CUDA build" : "CPU-only build")})");
    }
}

/// <summary>torch.cuda: TorchSharp sees CUDA, moves tensors to the GPU, and its matmul matches the CPU's.</summary>
public sealed class TorchSharpCudaCheck(LibTorchOptions options, bool? gpuPresent = null) : ICheck
{
    /// <summary>FP32 matmul GPU vs CPU with TF32 off: only the summation order differs.</summary>
    public const double MatmulTolerance = 1e-4;

    public string Id => "torch.cuda";
    public IReadOnlyList<string> Requires => ["cuda.init", "torch.load"];
    public string Title => "TorchSharp sees the GPU and computes on it";
    public TimeSpan Deadline => TimeSpan.FromSeconds(120);

    public CheckOutcome Run(CheckContext context)
    {
        if (context.Result("torch.load") is { Status: not (CheckStatus.Pass or CheckStatus.Warn) }) return context.SkipBecause("torch.load");
        return Run(FrameworkChecks.GpuPresent(context, gpuPresent));
    }

    public CheckOutcome Run(bool gpu)
    {
        var load = TorchSharpLoader.EnsureLoadedAsync(options).GetAwaiter().GetResult();
        if (!load.Loaded) return CheckOutcome.Skip("TorchSharp did not load (see torch.load)");
        var probe = TorchSharpProbe.Probe();
        if (!probe.CudaAvailable)
        {
            if (!gpu) return CheckOutcome.Skip("no NVIDIA GPU on this host; torch.cuda.is_available() = false");
            return CheckOutcome.Fail("torch.cuda.is_available() = false", load.HasCuda
                ? new Diagnosis("libtorch-cuda-init", "the CUDA libtorch loaded but CUDA initialisation failed",
                    "run gpurunner verify --only python to see PyTorch's own error text for this libtorch")
                : TorchSharpLoader.CpuOnly);
        }
        var head = $"cuda available, {probe.DeviceCount} device(s), cuDNN {(probe.CudnnAvailable ? "available" : "missing")}";
        if (probe.Error is not null || probe.MatmulMaxRelDiff is null)
            return CheckOutcome.Fail($"{head}; tensor on cuda failed: {probe.Error}",
                PythonFailureModes.Match(probe.Error ?? "") ?? new Diagnosis("torch-cuda-op-failed", "a tensor operation on the GPU failed", "see the error; run gpurunner verify for the driver checks"));
        var evidence = $"{head}; 512x512 matmul on cuda vs cpu: max rel diff {probe.MatmulMaxRelDiff:0.##e+0} (limit {MatmulTolerance:g})";
        return probe.MatmulMaxRelDiff <= MatmulTolerance
            ? CheckOutcome.Pass(evidence)
            : CheckOutcome.Fail(evidence, new("torch-wrong-result", "the GPU's matmul result differs from the CPU's", "check ECC counters and clocks (gpurunner verify); report the GPU"));
    }
}
